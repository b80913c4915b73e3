// BlockKey: names one fixed-size block of one version of one object — (bucket, key, version,
// block index). `version` is the object's ETag (or version id) and is never empty for a cached
// block, so a replaced object's blocks can never be mixed with the old ones: they have other
// names. The block size is not part of the key: one BlockCache has one block size, and its disk
// tier records the block size in every file and drops files written with another one.
//
// Value type; thread-compatible. Every derived form (Encode, Hash, FileName) is stable across
// processes, machines and compilers: the disk tier relies on it after a restart.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace bucketfs::cache {

struct BlockKey {
  std::string bucket;
  std::string key;
  std::string version;
  uint64_t index = 0;

  // Unambiguous byte encoding: each string as u32 little-endian length + bytes, then the index as
  // u64 little-endian. The identity used in the tiers' maps and stored in disk files, so that a
  // file name collision is detected rather than served.
  std::string Encode() const;
  // 64-bit FNV-1a of Encode(): stable (unlike std::hash), for hash maps and sharding.
  uint64_t Hash() const;
  // 32 lower-case hex characters: the first 128 bits of SHA-256(Encode()). The disk file name.
  std::string FileName() const;
  // "bucket/key@version#index", for logs and error messages (not unique: use Encode()).
  std::string ToString() const;

  friend bool operator==(const BlockKey&, const BlockKey&) = default;
};

struct BlockKeyHash {
  std::size_t operator()(const BlockKey& k) const { return static_cast<std::size_t>(k.Hash()); }
};

// The file name of the block whose Encode() is `encoded` (what BlockKey::FileName returns).
std::string FileNameForId(std::string_view encoded);

// The prefix that Encode() of every block of (bucket, key), any version, starts with.
std::string EncodedObjectPrefix(std::string_view bucket, std::string_view key);

}  // namespace bucketfs::cache
