// BlockCache: the gateway's shared block cache. Every client's READ of an object goes through it,
// so N clients reading the same bytes cost one S3 GET.
//
// Blocks are fixed-size pieces of one version of one object, named by BlockKey (bucket, key,
// ETag or version id, index); a replaced object has new keys, so old and new bytes never mix.
// Get() looks in the memory tier, then the disk tier (read and verified on the BlockingPool),
// then calls the caller's fetch function (the range GET). Concurrent misses on one block share
// one load (single flight): every waiter gets its block or the same error; errors are not cached.
// A fetched block enters memory at once and is written to disk behind (on the pool; temp file +
// rename). A block read from disk enters memory too.
//
// Memory bound. Let B = memory_bytes and S = block_size. The cache charges
//   resident  (data bytes of the blocks in the memory tier)
// + in flight (S per load in progress — disk read or fetch — reserved before it starts)
// and keeps resident + in flight <= B at every instant (Stats().peak_charged_bytes records the
// highest value seen). The one exception is B < S: then one load at a time still runs, charged S,
// and its block is served but not kept. A load that does not fit evicts resident blocks; if the
// loads in flight alone leave no room, it waits in a FIFO queue, asynchronously (no thread
// blocks, no mutex is held), until a load finishes: backpressure, never an allocation past B.
// Prefetch() never waits: it refuses when loads in flight would pass B/2 or demand loads are
// queued, so read-ahead cannot crowd out the reads clients are waiting for.
// Not charged, and so on top of B: (1) a block that a reader still holds after the cache evicted
// it — a BlockRef keeps its block alive, so it is that reader's memory until it drops it (the
// gateway holds the blocks of one READ while it copies them out); (2) blocks queued for the disk
// write-behind and evicted before their write ran: the queue holds at most B/4 bytes (past that,
// blocks are not written to disk, counted in disk_write_skipped). So process memory for cache
// data stays below 1.25 B plus what readers hold.
//
// Ownership: the cache owns its tiers; it borrows the BlockingPool, which must outlive it. It must
// outlive every Get()/Prefetch() in progress (stop the io_context first). Write-behind jobs share
// the disk tier and may finish after the cache is gone.
// Thread-safety: every public method is safe from any thread or coroutine on any executor; the
// mutex is never held across a co_await, and waiters resume on their own executors.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/async.h"
#include "base/bytes.h"
#include "base/single_flight.h"
#include "base/status.h"
#include "cache/block_key.h"
#include "cache/disk_tier.h"
#include "cache/eviction.h"

namespace bucketfs::cache {

// The bytes of one block: immutable once made, shared by every reader (BlockRef).
struct Block {
  Bytes data;  // block_size bytes, fewer for an object's last block
};
using BlockRef = std::shared_ptr<const Block>;
using BlockResult = Result<BlockRef>;
// Fetches one block's bytes from the object store (a ranged GET pinned to the key's version):
// exactly the block's bytes, at most block_size. Called at most once per load, by the leader.
using Fetch = std::function<Awaitable<Result<Bytes>>()>;

struct BlockCacheOptions {
  uint64_t block_size = 4 << 20;  // the default until the integrator measures one
  uint64_t memory_bytes = 1ull << 30;
  std::string disk_dir;                     // empty: no disk tier
  uint64_t disk_bytes = 0;                  // 0: no disk tier
  PolicyKind policy = PolicyKind::kS3Fifo;  // both tiers; see docs/cache.md for why
};

struct BlockCacheStats {
  uint64_t memory_hits = 0, memory_hit_bytes = 0, memory_misses = 0, memory_evictions = 0;
  uint64_t memory_bytes = 0, memory_blocks = 0, in_flight_bytes = 0;
  uint64_t peak_charged_bytes = 0;  // highest resident + in flight seen
  uint64_t coalesced = 0;           // Gets that joined a load already in flight
  uint64_t fetches = 0, fetch_errors = 0, fetched_bytes = 0;
  uint64_t prefetches = 0, prefetches_refused = 0;
  uint64_t backpressure_waits = 0;  // loads that queued for budget
  uint64_t waiting = 0;             // loads queued for budget now
  uint64_t invalidated = 0;         // memory blocks dropped by Invalidate()
  uint64_t disk_write_skipped = 0;  // write-behind queue full
  uint64_t write_behind_bytes = 0;  // queued for the disk now
  bool has_disk = false;
  DiskTierStats disk;
};

class BlockCache {
 public:
  // Opens the cache; with a disk tier, scans its directory on the calling thread (blocks: call at
  // startup, before serving). An unusable directory is an error naming it.
  static Result<std::unique_ptr<BlockCache>> Open(BlockCacheOptions options, BlockingPool& pool);
  // The same, with the scan on the BlockingPool: for callers on an I/O thread.
  static Awaitable<Result<std::unique_ptr<BlockCache>>> OpenAsync(BlockCacheOptions options,
                                                                  BlockingPool& pool);
  ~BlockCache();
  BlockCache(const BlockCache&) = delete;
  BlockCache& operator=(const BlockCache&) = delete;

  // The block `key`: memory, then disk, then `fetch` (shared by concurrent callers).
  Awaitable<BlockResult> Get(BlockKey key, Fetch fetch);
  // Starts loading `key` in the background on `ex` unless it is in memory, already loading, or
  // the prefetch budget (above) is used up. Never waits. True when a load was started; the
  // load's budget is reserved before this returns.
  bool Prefetch(const BlockKey& key, Fetch fetch, const asio::any_io_executor& ex);
  // Memory tier only: no fetch, no disk access, no effect on eviction order.
  bool InMemory(const BlockKey& key) const;
  // Drops every cached block of (bucket, key), any version, from memory now and from disk soon
  // (on the pool). Frees space early; never needed for correctness (versions are in the keys).
  // Loads in flight at that moment still complete and enter the cache.
  void Invalidate(std::string_view bucket, std::string_view key);
  // Completes when every disk job (write-behind, Invalidate's erase) queued so far has finished
  // (for tests and orderly stops; never completes if the pool was stopped with jobs queued).
  Awaitable<void> FlushWrites();

  BlockCacheStats Stats() const;
  const BlockCacheOptions& options() const { return options_; }

 private:
  using Latch = AsyncLatch<BlockResult>;
  struct BudgetWaiter {
    uint64_t bytes;
    std::shared_ptr<AsyncLatch<bool>> granted;
  };
  struct WriteBehindState;

  BlockCache(BlockCacheOptions options, BlockingPool& pool, std::unique_ptr<DiskTier> disk);

  // Loads `key` as the single flight's leader, holding a reservation of one block_size, then
  // settles the reservation, completes the flight and wakes its waiters.
  Awaitable<BlockResult> Lead(BlockKey key, std::string id, Fetch fetch,
                              std::shared_ptr<Latch> latch);
  Awaitable<void> PrefetchTask(BlockKey key, std::string id, Fetch fetch,
                               std::shared_ptr<Latch> latch);
  // Disk tier, then fetch. `*fetched` tells which.
  Awaitable<BlockResult> LoadReserved(const BlockKey& key, const std::string& id,
                                      const Fetch& fetch, bool* fetched);
  Awaitable<void> Reserve(uint64_t bytes);
  bool TryReserveLocked(uint64_t bytes);
  // Gives back a reservation and, when `block` is set, makes it resident (under one lock, so the
  // total never passes the budget); then grants queued reservations that now fit.
  void Settle(uint64_t reserved, const std::string& id, const BlockRef& block);
  void EvictLocked(uint64_t need);
  void NotePeakLocked();
  void WriteBehind(const BlockKey& key, const BlockRef& block);
  // Queues `job` on the pool, counted by FlushWrites(), unless the `bytes` of the jobs queued
  // would pass `limit` (then false).
  bool PostDiskJob(uint64_t bytes, uint64_t limit, std::function<void()> job);

  const BlockCacheOptions options_;
  BlockingPool& pool_;
  std::shared_ptr<DiskTier> disk_;  // shared with write-behind jobs
  std::shared_ptr<WriteBehindState> write_behind_;

  mutable std::mutex mu_;
  std::unordered_map<std::string, BlockRef> memory_;  // by BlockKey::Encode()
  std::unique_ptr<EvictionPolicy> policy_;
  uint64_t resident_ = 0;
  uint64_t in_flight_ = 0;
  uint64_t peak_charged_ = 0;
  std::deque<BudgetWaiter> budget_waiters_;  // FIFO
  std::unordered_map<std::string, std::shared_ptr<Latch>> flights_;

  std::atomic<uint64_t> memory_hits_{0}, memory_hit_bytes_{0}, memory_misses_{0},
      memory_evictions_{0}, coalesced_{0}, fetches_{0}, fetch_errors_{0}, fetched_bytes_{0},
      prefetches_{0}, prefetches_refused_{0}, backpressure_waits_{0}, invalidated_{0},
      disk_write_skipped_{0};
};

}  // namespace bucketfs::cache
