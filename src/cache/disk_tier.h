// DiskTier: the cache's local-disk tier — one file per block under a directory, bounded in
// bytes, reused after a restart, never serving a damaged file.
//
// Layout: DIR/CACHEDIR.TAG (marks the directory as a cache, for backup tools and for us),
// DIR/xx/<32 hex>.blk (xx = the name's first two characters; the name is BlockKey::FileName()),
// written as DIR/tmp/*.tmp and then renamed, so a crash never leaves a partial file under a final
// name. The file format is in block_file.h. Open() refuses a non-empty directory that is not a
// bucketfs cache (it would otherwise delete what it does not recognise), removes leftover temp
// files, and rebuilds the index from the file headers (oldest file first into the eviction
// order), removing files whose header, size or name is wrong and files written with another
// block size or format version. Read() verifies the key and the checksum; a mismatch removes the
// file, counts it, logs it and answers kNotFound, so the block is fetched again.
//
// Every method except Contains() and Stats() touches the disk: call them on the BlockingPool,
// never on an I/O thread. Thread-safety: all methods are safe from any thread (the index is under
// one mutex; file I/O runs outside it). Races between a Read and an eviction or erase of the same
// block end in kNotFound (a refetch), never in wrong bytes.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/bytes.h"
#include "base/status.h"
#include "cache/block_key.h"
#include "cache/eviction.h"

namespace bucketfs::cache {

struct DiskTierOptions {
  std::string dir;
  uint64_t capacity_bytes = 0;  // file bytes (headers and keys included)
  uint64_t block_size = 4 << 20;
  PolicyKind policy = PolicyKind::kS3Fifo;
};

struct DiskTierStats {
  uint64_t files = 0;
  uint64_t bytes = 0;
  uint64_t hits = 0;
  uint64_t hit_bytes = 0;  // data bytes served
  uint64_t misses = 0;
  uint64_t writes = 0;
  uint64_t written_bytes = 0;  // data bytes written
  uint64_t write_errors = 0;
  uint64_t evictions = 0;
  uint64_t corrupt = 0;    // damaged files found (at Open or on Read) and removed
  uint64_t discarded = 0;  // files of another block size or format version removed at Open
};

class DiskTier {
 public:
  static constexpr const char* kTagFile = "CACHEDIR.TAG";

  // Creates or reopens the tier in options.dir; blocks while it scans (see the class comment).
  static Result<std::unique_ptr<DiskTier>> Open(DiskTierOptions options);

  bool Contains(const std::string& id) const;
  // The block's data, verified. kNotFound when absent or damaged (then removed).
  Result<Bytes> Read(const BlockKey& key);
  // Stores the block (a present block is left alone), then evicts past the capacity.
  Status Write(const BlockKey& key, ByteView data);
  // Removes every block whose encoded key starts with `prefix` (EncodedObjectPrefix). Returns
  // how many.
  std::size_t EraseWithPrefix(std::string_view prefix);

  DiskTierStats Stats() const;
  const DiskTierOptions& options() const { return options_; }

 private:
  explicit DiskTier(DiskTierOptions options);
  Status Claim();  // checks or writes the tag; removes temp files
  void Scan();
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
  std::atomic<uint64_t> hits_{0}, hit_bytes_{0}, misses_{0}, writes_{0}, written_bytes_{0},
      write_errors_{0}, evictions_{0}, corrupt_{0}, discarded_{0}, tmp_seq_{0};
};

}  // namespace bucketfs::cache
