#include "nfs/filehandle.h"

namespace bucketfs::nfs {
namespace {

// Wire layout, 16 bytes: version (1), kind (0 pseudo, 1 export object), two zero bytes,
// export id (u32 big-endian), inode (u64 big-endian).
constexpr uint8_t kVersion = 1;
constexpr uint8_t kKindPseudo = 0;
constexpr uint8_t kKindExport = 1;
constexpr std::size_t kEncodedSize = 16;

}  // namespace

Bytes FileHandle::Encode() const {
  Bytes out(kEncodedSize, 0);
  out[0] = kVersion;
  out[1] = IsPseudo() ? kKindPseudo : kKindExport;
  for (int i = 0; i < 4; ++i) out[4 + i] = static_cast<uint8_t>(export_id >> (24 - 8 * i));
  for (int i = 0; i < 8; ++i) out[8 + i] = static_cast<uint8_t>(ino >> (56 - 8 * i));
  return out;
}

std::optional<FileHandle> FileHandle::Decode(ByteView wire) {
  if (wire.size() != kEncodedSize || wire[0] != kVersion || wire[2] != 0 || wire[3] != 0) {
    return std::nullopt;
  }
  FileHandle fh;
  for (int i = 0; i < 4; ++i) fh.export_id = (fh.export_id << 8) | wire[4 + i];
  for (int i = 0; i < 8; ++i) fh.ino = (fh.ino << 8) | wire[8 + i];
  if (fh.ino == 0) return std::nullopt;
  if (wire[1] == kKindPseudo) {
    if (fh.export_id != 0 || fh.ino != kPseudoRootIno) return std::nullopt;
  } else if (wire[1] == kKindExport) {
    if (fh.export_id == 0) return std::nullopt;
  } else {
    return std::nullopt;
  }
  return fh;
}

}  // namespace bucketfs::nfs
