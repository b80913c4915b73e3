// DiskTier: the cache's local-disk tier — one file per block under a directory, bounded in
// bytes, reused after a restart, never serving a damaged file.
//
// Layout: DIR/xx/<32 hex>.blk (xx = the name's first two characters), written as DIR/tmp/*.tmp
// then renamed, so a crash never leaves a partial file under a final name. A file holds a
// 24-byte header (magic "BFSBLK1\n", key length u32, data length u64, CRC-32C u32 of the lengths,
// key and data), the encoded BlockKey and the data. Open() scans the directory and rebuilds the
// index from the headers (oldest file first into the eviction order), removing temp files and
// files whose header or size is wrong. Read() verifies the key and the checksum; a mismatch
// removes the file and answers kNotFound, so the block is fetched again.
//
// Every method blocks on disk: call it on the BlockingPool, never on an I/O thread.
// Thread-safety: all methods are safe from any thread (the index is under one mutex; file I/O
// runs outside it).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "base/bytes.h"
#include "base/status.h"
#include "cache/block_key.h"
#include "cache/eviction.h"

namespace bucketfs::cache {

struct DiskTierOptions {
  std::string dir;
  uint64_t capacity_bytes = 0;  // file bytes (headers included)
  PolicyKind policy = PolicyKind::kS3Fifo;
};

struct DiskTierStats {
  uint64_t files = 0;
  uint64_t bytes = 0;
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t writes = 0;
  uint64_t write_errors = 0;
  uint64_t evictions = 0;
  uint64_t corrupt = 0;  // damaged files found (at Open or on Read) and removed
};

class DiskTier {
 public:
  static constexpr std::size_t kHeaderSize = 24;

  static Result<std::unique_ptr<DiskTier>> Open(DiskTierOptions options);

  bool Contains(const std::string& id) const;
  // The block's data, verified. kNotFound when absent or damaged (then removed).
  Result<Bytes> Read(const BlockKey& key);
  // Stores the block (replacing nothing: a present block is left alone), then evicts past the
  // capacity.
  Status Write(const BlockKey& key, ByteView data);

  DiskTierStats Stats() const;
  const std::string& dir() const { return options_.dir; }

 private:
  explicit DiskTier(DiskTierOptions options);
  Status Scan();
  std::string PathOf(const std::string& name) const;
  void Drop(const std::string& id, bool corrupt);  // forget and unlink
  void EvictOverCapacity();

  struct Entry {
    std::string name;  // file name without directory and suffix
    uint64_t bytes = 0;
  };

  const DiskTierOptions options_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> index_;  // by BlockKey::Encode()
  std::unique_ptr<EvictionPolicy> policy_;
  uint64_t bytes_ = 0;
  std::atomic<uint64_t> hits_{0}, misses_{0}, writes_{0}, write_errors_{0}, evictions_{0},
      corrupt_{0}, tmp_seq_{0};
};

}  // namespace bucketfs::cache
