#include "nfs/filehandle.h"

#include <openssl/crypto.h>
#include <openssl/hmac.h>

namespace bucketfs::nfs {
namespace {

constexpr uint8_t kVersion = 2;
constexpr uint8_t kKindPseudo = 0;
constexpr uint8_t kKindExport = 1;
constexpr std::size_t kBodySize = 20;
constexpr std::size_t kTagSize = 16;
constexpr std::size_t kEncodedSize = kBodySize + kTagSize;

void PutBe(uint8_t* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out[i] = static_cast<uint8_t>(v >> (8 * (bytes - 1 - i)));
}

uint64_t GetBe(const uint8_t* in, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | in[i];
  return v;
}

}  // namespace

std::array<uint8_t, 16> HandleKey::Tag(const uint8_t* body) const {
  uint8_t mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()), body, kBodySize, mac, &len);
  std::array<uint8_t, kTagSize> tag{};
  std::copy(mac, mac + kTagSize, tag.begin());
  return tag;
}

Bytes HandleKey::Encode(const FileHandle& fh) const {
  Bytes out(kEncodedSize, 0);
  out[0] = kVersion;
  out[1] = fh.IsPseudo() ? kKindPseudo : kKindExport;
  PutBe(&out[4], fh.export_id, 4);
  PutBe(&out[8], fh.ino, 8);
  PutBe(&out[16], fh.generation, 4);
  auto tag = Tag(out.data());
  std::copy(tag.begin(), tag.end(), out.begin() + kBodySize);
  return out;
}

HandleKey::Decoded HandleKey::Decode(ByteView wire) const {
  Decoded d;
  if (wire.size() != kEncodedSize || wire[0] != kVersion || wire[2] != 0 || wire[3] != 0) {
    return d;
  }
  FileHandle fh;
  fh.export_id = static_cast<uint32_t>(GetBe(&wire[4], 4));
  fh.ino = GetBe(&wire[8], 8);
  fh.generation = static_cast<uint32_t>(GetBe(&wire[16], 4));
  if (fh.ino == 0) return d;
  if (wire[1] == kKindPseudo) {
    if (fh.export_id != 0 || fh.ino != kPseudoRootIno || fh.generation != 0) return d;
  } else if (wire[1] != kKindExport || fh.export_id == 0) {
    return d;
  }
  auto tag = Tag(wire.data());
  if (CRYPTO_memcmp(tag.data(), wire.data() + kBodySize, kTagSize) != 0) {
    d.error = DecodeError::kForged;
    return d;
  }
  d.fh = fh;
  return d;
}

}  // namespace bucketfs::nfs
