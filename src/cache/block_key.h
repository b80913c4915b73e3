// BlockKey: names one fixed-size block of one version of one object — (bucket, key, version,
// block index). `version` is the object's ETag (or version id) and is never empty for a cached
// block, so a replaced object's blocks can never be mixed with the old ones: they have other keys.
//
// Value type; thread-compatible.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace bucketfs::cache {

struct BlockKey {
  std::string bucket;
  std::string key;
  std::string version;
  uint64_t index = 0;

  // Unambiguous byte encoding (length-prefixed fields): the identity used in maps and stored in
  // disk files to detect a name collision.
  std::string Encode() const;
  // 32 lower-case hex characters derived from Encode() by SHA-256: the disk file name.
  std::string FileName() const;

  friend bool operator==(const BlockKey&, const BlockKey&) = default;
};

// The file name of the block whose Encode() is `encoded` (what BlockKey::FileName returns).
std::string FileNameForId(std::string_view encoded);

// CRC-32C (Castagnoli) of `data`, continuing from `crc` (0 to start). Uses the SSE4.2 instruction
// when the CPU has it (~10 GB/s), a table otherwise. It detects torn writes and flipped bits in
// disk blocks; the full key stored beside the data rules out serving another block's bytes.
uint32_t Crc32c(const void* data, std::size_t size, uint32_t crc = 0);

}  // namespace bucketfs::cache
