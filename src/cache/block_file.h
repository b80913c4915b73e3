// The on-disk format of one cached block: what DiskTier writes and verifies.
//
// A block file is a 40-byte header, the block's encoded key (BlockKey::Encode()) and its data.
// Header fields, little-endian:
//
//   offset size  field
//        0    8  magic "BFSCACHE"
//        8    4  format version (kBlockFileVersion)
//       12    4  key length
//       16    8  data length (<= block size; the last block of an object is short)
//       24    8  block size of the cache that wrote it (a block index means nothing without it)
//       32    4  reserved, 0
//       36    4  CRC-32C of bytes 0..35, the key and the data
//
// A file is usable only if every field checks out: magic, version, block size equal to the
// reader's, lengths consistent with the file size, the stored key equal to the wanted one and
// the checksum right. Files are never fsync'ed (a cache needs no durability): whatever a crash or
// a disk does to them is caught here and costs a refetch, never wrong bytes.
//
// Pure functions over file descriptors; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/bytes.h"

namespace bucketfs::cache {

inline constexpr std::size_t kBlockFileHeaderSize = 40;
inline constexpr uint32_t kBlockFileVersion = 2;
inline constexpr uint32_t kMaxEncodedKey = 64 * 1024;  // S3 keys are <= 1 KiB

enum class FileCheck {
  kGood,
  kForeign,  // a bucketfs block file of another format version or block size: unusable, not bad
  kDamaged,  // truncated, flipped bits, wrong key, not a block file at all
};

// Closes a file descriptor on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd();
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_;
};

// The header and key of a block file holding `data` under `id`, written by a cache whose block
// size is `block_size`. The data follows them in the file.
std::string EncodeBlockFileHead(std::string_view id, ByteView data, uint64_t block_size);

// Checks the header of the open file `fd` (whose size is `file_size`) and reads its key into
// `*id`, without reading the data (the restart scan). kGood means the header is consistent; the
// checksum is verified by ReadBlockFile.
FileCheck ReadBlockFileHead(int fd, uint64_t file_size, uint64_t block_size, std::string* id);

// Reads and verifies the whole file `fd`: kGood and the data in `*out` only if the file is a
// complete, undamaged block file for `id` at `block_size`. Never allocates more than block_size
// for the data, whatever the header says.
FileCheck ReadBlockFile(int fd, std::string_view id, uint64_t block_size, Bytes* out);

// Writes all of `n` bytes (EINTR-safe); false on error (errno set).
bool WriteAll(int fd, const void* buf, std::size_t n);

}  // namespace bucketfs::cache
