// BlockCache: the gateway's shared block cache. Every client's READ of an object goes through it,
// so N clients reading the same bytes cost one S3 GET.
//
// Blocks are fixed-size pieces of one version of one object, named by BlockKey (bucket, key,
// ETag or version id, index); a replaced object has new keys, so old and new bytes never mix.
// Get() looks in the memory tier, then the disk tier (read and verified on the BlockingPool),
// then calls the caller's fetch function (the range GET). Concurrent misses on one block share
// one fetch (single flight): every waiter gets its block or its error; errors are not cached.
// A fetched block enters memory at once and is written to disk behind (on the pool).
//
// Memory bound: blocks resident in the memory tier plus fetches in flight (each reserves one
// block_size before it starts) never exceed `memory_bytes`, with one exception: when the budget
// is smaller than one block, one fetch at a time may still run (and its block is not kept). A miss
// that does not fit waits, asynchronously and in arrival order of wake-ups, for a fetch to finish
// (backpressure) after evicting what it can; it never allocates past the budget. Prefetch() refuses
// to start when fetches in flight would pass half the budget, so read-ahead cannot crowd out demand
// reads. Outside the bound: a block a reader still holds after the cache dropped it (one READ
// reply's worth per reader), and blocks queued for disk write-behind (at most memory_bytes / 4;
// past that, blocks are not written to disk).
//
// Ownership: the cache owns its tiers; it borrows the BlockingPool, which must outlive it. It must
// outlive every Get()/Prefetch() in progress (stop the io_context first).
// Thread-safety: every public method is safe from any thread or coroutine; the mutex is never
// held across a co_await, and waiters resume on their own executors.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "base/async.h"
#include "base/bytes.h"
#include "base/single_flight.h"
#include "base/status.h"
#include "cache/block_key.h"
#include "cache/disk_tier.h"
#include "cache/eviction.h"

namespace bucketfs::cache {

struct Block {
  Bytes data;  // block_size bytes, fewer for an object's last block
};
using BlockRef = std::shared_ptr<const Block>;
using BlockResult = Result<BlockRef>;
// Fetches one block's bytes from the object store (a ranged GET pinned to the key's version).
using Fetch = std::function<Awaitable<Result<Bytes>>()>;

struct BlockCacheOptions {
  uint64_t block_size = 4 << 20;
  uint64_t memory_bytes = 1ull << 30;
  std::string disk_dir;  // empty: no disk tier
  uint64_t disk_bytes = 0;
  PolicyKind policy = PolicyKind::kS3Fifo;
};

struct BlockCacheStats {
  uint64_t memory_hits = 0, memory_misses = 0, memory_evictions = 0;
  uint64_t memory_bytes = 0, memory_blocks = 0, in_flight_bytes = 0;
  uint64_t coalesced = 0;  // Gets that joined a fetch already in flight
  uint64_t fetches = 0, fetch_errors = 0, fetched_bytes = 0;
  uint64_t prefetches = 0, prefetches_refused = 0;
  uint64_t backpressure_waits = 0;
  uint64_t disk_write_skipped = 0;  // write-behind queue full
  bool has_disk = false;
  DiskTierStats disk;
};

class BlockCache {
 public:
  // Opens the disk tier (scanning its directory: blocks on disk, call at startup).
  static Result<std::unique_ptr<BlockCache>> Open(BlockCacheOptions options, BlockingPool& pool);
  ~BlockCache();
  BlockCache(const BlockCache&) = delete;
  BlockCache& operator=(const BlockCache&) = delete;

  Awaitable<BlockResult> Get(const BlockKey& key, Fetch fetch);
  // Starts loading `key` in the background on `ex` unless it is cached, in flight, or the
  // in-flight budget is used up. True when a load was started.
  bool Prefetch(const BlockKey& key, Fetch fetch, const asio::any_io_executor& ex);
  // Memory tier only, no fetch, no effect on eviction order.
  bool InMemory(const BlockKey& key) const;

  BlockCacheStats Stats() const;
  const BlockCacheOptions& options() const { return options_; }

 private:
  BlockCache(BlockCacheOptions options, BlockingPool& pool, std::unique_ptr<DiskTier> disk);

  Awaitable<BlockResult> Load(BlockKey key, std::string id, Fetch fetch);
  Awaitable<void> PrefetchTask(BlockKey key, Fetch fetch);
  Awaitable<void> Reserve(uint64_t bytes);
  // Gives back a reservation and, when `block` is set, makes it resident (under one lock, so the
  // total never passes the budget).
  void Settle(uint64_t reserved, const std::string& id, const BlockRef& block);
  void EvictLocked(uint64_t need);
  void WriteBehind(const BlockKey& key, const BlockRef& block);

  const BlockCacheOptions options_;
  BlockingPool& pool_;
  std::shared_ptr<DiskTier> disk_;  // shared with write-behind tasks

  mutable std::mutex mu_;
  std::unordered_map<std::string, BlockRef> memory_;  // by BlockKey::Encode()
  std::unique_ptr<EvictionPolicy> policy_;
  uint64_t resident_ = 0;
  uint64_t in_flight_ = 0;
  std::shared_ptr<AsyncLatch<bool>> budget_freed_;  // fired when in_flight_ shrinks
  std::unordered_map<std::string, std::shared_ptr<AsyncLatch<BlockResult>>> flights_;
  std::shared_ptr<std::atomic<uint64_t>> write_behind_bytes_ =
      std::make_shared<std::atomic<uint64_t>>(0);

  std::atomic<uint64_t> memory_hits_{0}, memory_misses_{0}, memory_evictions_{0}, coalesced_{0},
      fetches_{0}, fetch_errors_{0}, fetched_bytes_{0}, prefetches_{0}, prefetches_refused_{0},
      backpressure_waits_{0}, disk_write_skipped_{0};
};

}  // namespace bucketfs::cache
