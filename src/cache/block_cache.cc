#include "cache/block_cache.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <utility>

#include "base/log.h"

namespace bucketfs::cache {

// Disk writes queued on the pool: bounded in bytes; FlushWrites() waits for them to drain.
struct BlockCache::WriteBehindState {
  std::mutex mu;
  uint64_t bytes = 0;
  uint64_t jobs = 0;
  std::vector<std::shared_ptr<AsyncLatch<bool>>> idle_waiters;
};

Result<std::unique_ptr<BlockCache>> BlockCache::Open(BlockCacheOptions options,
                                                     BlockingPool& pool) {
  if (options.block_size == 0) return InvalidArgumentError("cache block size must be > 0");
  std::unique_ptr<DiskTier> disk;
  if (!options.disk_dir.empty() && options.disk_bytes > 0) {
    DiskTierOptions d;
    d.dir = options.disk_dir;
    d.capacity_bytes = options.disk_bytes;
    d.block_size = options.block_size;
    d.policy = options.policy;
    BFS_ASSIGN_OR_RETURN(disk, DiskTier::Open(std::move(d)));
  }
  return std::unique_ptr<BlockCache>(new BlockCache(std::move(options), pool, std::move(disk)));
}

Awaitable<Result<std::unique_ptr<BlockCache>>> BlockCache::OpenAsync(BlockCacheOptions options,
                                                                     BlockingPool& pool) {
  auto open = [options = std::move(options), &pool]() { return Open(options, pool); };
  co_return co_await RunBlocking(pool, std::move(open));
}

BlockCache::BlockCache(BlockCacheOptions options, BlockingPool& pool,
                       std::unique_ptr<DiskTier> disk)
    : options_(std::move(options)),
      pool_(pool),
      disk_(std::move(disk)),
      write_behind_(std::make_shared<WriteBehindState>()),
      policy_(MakePolicy(options_.policy, options_.memory_bytes)) {}

BlockCache::~BlockCache() = default;

bool BlockCache::InMemory(const BlockKey& key) const {
  const std::string id = key.Encode();
  std::lock_guard lock(mu_);
  return memory_.count(id) > 0;
}

Awaitable<BlockResult> BlockCache::Get(BlockKey key, Fetch fetch) {
  std::string id = key.Encode();
  BlockRef hit;
  std::shared_ptr<Latch> latch;
  bool leader = false;
  {
    std::lock_guard lock(mu_);
    if (auto it = memory_.find(id); it != memory_.end()) {
      policy_->Touch(id);
      hit = it->second;
    } else {
      auto [f, inserted] = flights_.try_emplace(id);
      if (inserted) f->second = std::make_shared<Latch>();
      latch = f->second;
      leader = inserted;
    }
  }
  if (hit) {
    ++memory_hits_;
    memory_hit_bytes_ += hit->data.size();
    co_return hit;
  }
  if (!leader) {
    ++coalesced_;
    co_return co_await latch->Wait();
  }
  ++memory_misses_;
  co_await Reserve(options_.block_size);
  co_return co_await Lead(std::move(key), std::move(id), std::move(fetch), std::move(latch));
}

Awaitable<BlockResult> BlockCache::Lead(BlockKey key, std::string id, Fetch fetch,
                                        std::shared_ptr<Latch> latch) {
  bool fetched = false;
  BlockResult result = co_await LoadReserved(key, id, fetch, &fetched);
  Settle(options_.block_size, id, result.ok() ? result.value() : nullptr);
  if (result.ok() && fetched) WriteBehind(key, result.value());
  {
    std::lock_guard lock(mu_);
    flights_.erase(id);
  }
  latch->Set(result);
  co_return result;
}

Awaitable<BlockResult> BlockCache::LoadReserved(const BlockKey& key, const std::string& id,
                                                const Fetch& fetch, bool* fetched) {
  if (disk_ && disk_->Contains(id)) {
    auto read = [disk = disk_, key] { return disk->Read(key); };
    Result<Bytes> bytes = co_await RunBlocking(pool_, read);
    if (bytes.ok()) {
      auto block = std::make_shared<Block>();
      block->data = std::move(bytes).value();
      co_return BlockRef(std::move(block));
    }
    // Absent after all, or damaged (removed, counted, logged): fetch it.
  }
  *fetched = true;
  ++fetches_;
  Result<Bytes> data = co_await fetch();
  if (!data.ok()) {
    ++fetch_errors_;
    co_return data.status();
  }
  if (data->size() > options_.block_size) {
    ++fetch_errors_;
    co_return InternalError("fetched " + std::to_string(data->size()) + " bytes for " +
                            key.ToString() + ", more than the block size");
  }
  fetched_bytes_ += data->size();
  auto block = std::make_shared<Block>();
  block->data = std::move(data).value();
  co_return BlockRef(std::move(block));
}

Awaitable<void> BlockCache::Reserve(uint64_t bytes) {
  auto granted = std::make_shared<AsyncLatch<bool>>();
  bool reserved = false;
  {
    std::lock_guard lock(mu_);
    reserved = budget_waiters_.empty() && TryReserveLocked(bytes);
    if (!reserved) budget_waiters_.push_back(BudgetWaiter{bytes, granted});
  }
  if (reserved) co_return;
  ++backpressure_waits_;
  co_await granted->Wait();  // the reservation was made for us by Settle()
}

bool BlockCache::TryReserveLocked(uint64_t bytes) {
  if (in_flight_ != 0 && in_flight_ + bytes > options_.memory_bytes) return false;
  EvictLocked(bytes);
  in_flight_ += bytes;
  NotePeakLocked();
  return true;
}

void BlockCache::Settle(uint64_t reserved, const std::string& id, const BlockRef& block) {
  std::vector<std::shared_ptr<AsyncLatch<bool>>> wake;
  {
    std::lock_guard lock(mu_);
    in_flight_ -= reserved;
    if (block) {
      const uint64_t size = block->data.size();
      // It fits: its reservation (>= size) was just given back. Only when the budget is smaller
      // than one block does it not; it is then served to its readers but not kept.
      if (resident_ + in_flight_ + size <= options_.memory_bytes &&
          memory_.emplace(id, block).second) {
        resident_ += size;
        policy_->Insert(id, size);
      }
    }
    while (!budget_waiters_.empty() && TryReserveLocked(budget_waiters_.front().bytes)) {
      wake.push_back(std::move(budget_waiters_.front().granted));
      budget_waiters_.pop_front();
    }
  }
  for (auto& w : wake) w->Set(true);
}

void BlockCache::EvictLocked(uint64_t need) {
  while (resident_ + in_flight_ + need > options_.memory_bytes) {
    auto victim = policy_->Evict();
    if (!victim) return;
    auto it = memory_.find(*victim);
    if (it == memory_.end()) continue;
    resident_ -= it->second->data.size();
    memory_.erase(it);
    ++memory_evictions_;
  }
}

void BlockCache::NotePeakLocked() {
  peak_charged_ = std::max(peak_charged_, resident_ + in_flight_);
}

void BlockCache::WriteBehind(const BlockKey& key, const BlockRef& block) {
  if (!disk_) return;
  auto write = [disk = disk_, key, block] {
    Status s = disk->Write(key, block->data);
    if (!s.ok()) BFS_LOG_WARN("block cache: {}", s.ToString());
  };
  if (!PostDiskJob(block->data.size(), options_.memory_bytes / 4, std::move(write))) {
    ++disk_write_skipped_;
  }
}

bool BlockCache::PostDiskJob(uint64_t bytes, uint64_t limit, std::function<void()> job) {
  {
    std::lock_guard lock(write_behind_->mu);
    if (write_behind_->bytes + bytes > limit) return false;
    write_behind_->bytes += bytes;
    ++write_behind_->jobs;
  }
  asio::post(pool_.executor(), [state = write_behind_, bytes, job = std::move(job)] {
    job();
    std::vector<std::shared_ptr<AsyncLatch<bool>>> idle;
    {
      std::lock_guard lock(state->mu);
      state->bytes -= bytes;
      if (--state->jobs == 0) idle.swap(state->idle_waiters);
    }
    for (auto& w : idle) w->Set(true);
  });
  return true;
}

Awaitable<void> BlockCache::FlushWrites() {
  auto idle = std::make_shared<AsyncLatch<bool>>();
  {
    std::lock_guard lock(write_behind_->mu);
    if (write_behind_->jobs == 0) co_return;
    write_behind_->idle_waiters.push_back(idle);
  }
  co_await idle->Wait();
}

bool BlockCache::Prefetch(const BlockKey& key, Fetch fetch, const asio::any_io_executor& ex) {
  std::string id = key.Encode();
  auto latch = std::make_shared<Latch>();
  {
    std::lock_guard lock(mu_);
    if (memory_.count(id) || flights_.count(id)) return false;
    if (!budget_waiters_.empty() || in_flight_ + options_.block_size > options_.memory_bytes / 2) {
      ++prefetches_refused_;
      return false;
    }
    TryReserveLocked(options_.block_size);  // fits: in flight stays within half the budget
    flights_.emplace(id, latch);
  }
  ++prefetches_;
  asio::co_spawn(ex, PrefetchTask(key, std::move(id), std::move(fetch), std::move(latch)),
                 asio::detached);
  return true;
}

Awaitable<void> BlockCache::PrefetchTask(BlockKey key, std::string id, Fetch fetch,
                                         std::shared_ptr<Latch> latch) {
  BlockResult r = co_await Lead(std::move(key), std::move(id), std::move(fetch), std::move(latch));
  (void)r;  // a failed prefetch is retried by the demand read that needs the block
}

void BlockCache::Invalidate(std::string_view bucket, std::string_view key) {
  const std::string prefix = EncodedObjectPrefix(bucket, key);
  uint64_t dropped = 0;
  {
    std::lock_guard lock(mu_);
    for (auto it = memory_.begin(); it != memory_.end();) {
      if (!std::string_view(it->first).starts_with(prefix)) {
        ++it;
        continue;
      }
      resident_ -= it->second->data.size();
      policy_->Erase(it->first);
      it = memory_.erase(it);
      ++dropped;
    }
  }
  invalidated_ += dropped;
  if (disk_) {
    PostDiskJob(0, UINT64_MAX, [disk = disk_, prefix] { disk->EraseWithPrefix(prefix); });
  }
}

BlockCacheStats BlockCache::Stats() const {
  BlockCacheStats s;
  {
    std::lock_guard lock(mu_);
    s.memory_bytes = resident_;
    s.memory_blocks = memory_.size();
    s.in_flight_bytes = in_flight_;
    s.peak_charged_bytes = peak_charged_;
    s.waiting = budget_waiters_.size();
  }
  {
    std::lock_guard lock(write_behind_->mu);
    s.write_behind_bytes = write_behind_->bytes;
  }
  s.memory_hits = memory_hits_;
  s.memory_hit_bytes = memory_hit_bytes_;
  s.memory_misses = memory_misses_;
  s.memory_evictions = memory_evictions_;
  s.coalesced = coalesced_;
  s.fetches = fetches_;
  s.fetch_errors = fetch_errors_;
  s.fetched_bytes = fetched_bytes_;
  s.prefetches = prefetches_;
  s.prefetches_refused = prefetches_refused_;
  s.backpressure_waits = backpressure_waits_;
  s.invalidated = invalidated_;
  s.disk_write_skipped = disk_write_skipped_;
  if (disk_) {
    s.has_disk = true;
    s.disk = disk_->Stats();
  }
  return s;
}

}  // namespace bucketfs::cache
