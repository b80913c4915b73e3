#include "cache/block_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "cache/crc32c.h"

namespace bucketfs::cache {
namespace {

constexpr char kMagic[8] = {'B', 'F', 'S', 'C', 'A', 'C', 'H', 'E'};
// The first format (no version field, no block size): recognised so that an upgrade drops those
// files as foreign, not as damage.
constexpr char kMagicV1[8] = {'B', 'F', 'S', 'B', 'L', 'K', '1', '\n'};
constexpr std::size_t kCrcOffset = 36;

struct Header {
  uint32_t version = 0;
  uint32_t key_len = 0;
  uint64_t data_len = 0;
  uint64_t block_size = 0;
  uint32_t crc = 0;
};

void PutLe(uint8_t* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out[i] = static_cast<uint8_t>(v >> (8 * i));
}

uint64_t GetLe(const uint8_t* in, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | in[i];
  return v;
}

void PutHeader(uint8_t* out, const Header& h) {
  std::memcpy(out, kMagic, 8);
  PutLe(out + 8, h.version, 4);
  PutLe(out + 12, h.key_len, 4);
  PutLe(out + 16, h.data_len, 8);
  PutLe(out + 24, h.block_size, 8);
  PutLe(out + 32, 0, 4);
  PutLe(out + kCrcOffset, h.crc, 4);
}

FileCheck GetHeader(const uint8_t* in, uint64_t block_size, Header* h) {
  if (std::memcmp(in, kMagicV1, 8) == 0) return FileCheck::kForeign;
  if (std::memcmp(in, kMagic, 8) != 0) return FileCheck::kDamaged;
  h->version = static_cast<uint32_t>(GetLe(in + 8, 4));
  h->key_len = static_cast<uint32_t>(GetLe(in + 12, 4));
  h->data_len = GetLe(in + 16, 8);
  h->block_size = GetLe(in + 24, 8);
  h->crc = static_cast<uint32_t>(GetLe(in + kCrcOffset, 4));
  if (h->version != kBlockFileVersion || h->block_size != block_size) return FileCheck::kForeign;
  if (h->key_len == 0 || h->key_len > kMaxEncodedKey || h->data_len > block_size) {
    return FileCheck::kDamaged;
  }
  return FileCheck::kGood;
}

// Reads exactly `n` bytes at `off`; false on a short read or an error.
bool ReadAt(int fd, void* buf, std::size_t n, uint64_t off) {
  auto* p = static_cast<uint8_t*>(buf);
  while (n > 0) {
    ssize_t r = ::pread(fd, p, n, static_cast<off_t>(off));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    off += static_cast<uint64_t>(r);
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

// Reads and decodes the header and key; checks lengths against the file size.
FileCheck ReadHead(int fd, uint64_t file_size, uint64_t block_size, Header* h, std::string* id,
                   uint8_t* raw) {
  if (file_size < kBlockFileHeaderSize || !ReadAt(fd, raw, kBlockFileHeaderSize, 0)) {
    return FileCheck::kDamaged;
  }
  FileCheck c = GetHeader(raw, block_size, h);
  if (c != FileCheck::kGood) return c;
  if (file_size != kBlockFileHeaderSize + h->key_len + h->data_len) return FileCheck::kDamaged;
  id->resize(h->key_len);
  if (!ReadAt(fd, id->data(), id->size(), kBlockFileHeaderSize)) return FileCheck::kDamaged;
  return FileCheck::kGood;
}

}  // namespace

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

std::string EncodeBlockFileHead(std::string_view id, ByteView data, uint64_t block_size) {
  Header h;
  h.version = kBlockFileVersion;
  h.key_len = static_cast<uint32_t>(id.size());
  h.data_len = data.size();
  h.block_size = block_size;
  uint8_t raw[kBlockFileHeaderSize];
  PutHeader(raw, h);
  uint32_t crc = Crc32c(raw, kCrcOffset);
  crc = Crc32c(id.data(), id.size(), crc);
  h.crc = Crc32c(data.data(), data.size(), crc);
  PutLe(raw + kCrcOffset, h.crc, 4);
  std::string out(reinterpret_cast<const char*>(raw), kBlockFileHeaderSize);
  out.append(id);
  return out;
}

FileCheck ReadBlockFileHead(int fd, uint64_t file_size, uint64_t block_size, std::string* id) {
  Header h;
  uint8_t raw[kBlockFileHeaderSize];
  return ReadHead(fd, file_size, block_size, &h, id, raw);
}

FileCheck ReadBlockFile(int fd, std::string_view id, uint64_t block_size, Bytes* out) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return FileCheck::kDamaged;
  Header h;
  uint8_t raw[kBlockFileHeaderSize];
  std::string stored;
  FileCheck c = ReadHead(fd, static_cast<uint64_t>(st.st_size), block_size, &h, &stored, raw);
  if (c != FileCheck::kGood) return c;
  if (stored != id) return FileCheck::kDamaged;
  out->resize(h.data_len);  // <= block_size: checked by GetHeader
  if (!ReadAt(fd, out->data(), out->size(), kBlockFileHeaderSize + h.key_len)) {
    return FileCheck::kDamaged;
  }
  uint32_t crc = Crc32c(raw, kCrcOffset);
  crc = Crc32c(stored.data(), stored.size(), crc);
  crc = Crc32c(out->data(), out->size(), crc);
  return crc == h.crc ? FileCheck::kGood : FileCheck::kDamaged;
}

bool WriteAll(int fd, const void* buf, std::size_t n) {
  const auto* p = static_cast<const uint8_t*>(buf);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

}  // namespace bucketfs::cache
