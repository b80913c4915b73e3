#include "cache/block_cache.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <utility>

#include "base/log.h"

namespace bucketfs::cache {

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

BlockCache::BlockCache(BlockCacheOptions options, BlockingPool& pool,
                       std::unique_ptr<DiskTier> disk)
    : options_(std::move(options)),
      pool_(pool),
      disk_(std::move(disk)),
      policy_(MakePolicy(options_.policy, options_.memory_bytes)) {}

BlockCache::~BlockCache() = default;

bool BlockCache::InMemory(const BlockKey& key) const {
  std::lock_guard lock(mu_);
  return memory_.count(key.Encode()) > 0;
}

Awaitable<BlockResult> BlockCache::Get(const BlockKey& key, Fetch fetch) {
  std::string id = key.Encode();
  std::shared_ptr<AsyncLatch<BlockResult>> latch;
  bool leader = false;
  {
    std::lock_guard lock(mu_);
    if (auto it = memory_.find(id); it != memory_.end()) {
      policy_->Touch(id);
      ++memory_hits_;
      BlockRef hit = it->second;
      co_return hit;
    }
    auto [f, inserted] = flights_.try_emplace(id);
    if (inserted) f->second = std::make_shared<AsyncLatch<BlockResult>>();
    latch = f->second;
    leader = inserted;
  }
  if (!leader) {
    ++coalesced_;
    co_return co_await latch->Wait();
  }
  ++memory_misses_;
  BlockResult result = co_await Load(key, id, std::move(fetch));
  {
    std::lock_guard lock(mu_);
    flights_.erase(id);
  }
  latch->Set(result);
  co_return result;
}

Awaitable<BlockResult> BlockCache::Load(BlockKey key, std::string id, Fetch fetch) {
  if (disk_ && disk_->Contains(id)) {
    auto disk = disk_;
    auto read = [disk, key] { return disk->Read(key); };
    Result<Bytes> bytes = co_await RunBlocking(pool_, read);
    if (bytes.ok()) {
      auto block = std::make_shared<Block>();
      block->data = std::move(bytes).value();
      const uint64_t size = block->data.size();
      co_await Reserve(size);
      Settle(size, id, block);
      co_return BlockRef(block);
    }
    // Absent after all, or damaged (removed): fetch it.
  }
  co_await Reserve(options_.block_size);
  ++fetches_;
  Result<Bytes> data = co_await fetch();
  if (!data.ok()) {
    ++fetch_errors_;
    Settle(options_.block_size, id, nullptr);
    co_return data.status();
  }
  if (data->size() > options_.block_size) {
    Settle(options_.block_size, id, nullptr);
    co_return InternalError("fetched block larger than the block size");
  }
  fetched_bytes_ += data->size();
  auto block = std::make_shared<Block>();
  block->data = std::move(data).value();
  BlockRef ref = block;
  Settle(options_.block_size, id, ref);
  WriteBehind(key, ref);
  co_return ref;
}

Awaitable<void> BlockCache::Reserve(uint64_t bytes) {
  bool waited = false;
  for (;;) {
    std::shared_ptr<AsyncLatch<bool>> wait;
    {
      std::lock_guard lock(mu_);
      EvictLocked(bytes);
      if (resident_ + in_flight_ + bytes <= options_.memory_bytes || in_flight_ == 0) {
        in_flight_ += bytes;
        co_return;
      }
      if (!budget_freed_) budget_freed_ = std::make_shared<AsyncLatch<bool>>();
      wait = budget_freed_;
    }
    if (!waited) ++backpressure_waits_;
    waited = true;
    co_await wait->Wait();
  }
}

void BlockCache::Settle(uint64_t reserved, const std::string& id, const BlockRef& block) {
  std::shared_ptr<AsyncLatch<bool>> freed;
  {
    std::lock_guard lock(mu_);
    in_flight_ -= reserved;
    if (block) {
      const uint64_t size = block->data.size();
      EvictLocked(size);
      // A block that does not fit even in an empty tier (budget below one block) is served to
      // its readers but not kept.
      const bool fits = resident_ + in_flight_ + size <= options_.memory_bytes;
      if (fits && memory_.emplace(id, block).second) {
        resident_ += size;
        policy_->Insert(id, size);
      }
    }
    freed = std::exchange(budget_freed_, nullptr);
  }
  if (freed) freed->Set(true);
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

void BlockCache::WriteBehind(const BlockKey& key, const BlockRef& block) {
  if (!disk_) return;
  const uint64_t size = block->data.size();
  if (write_behind_bytes_->load() + size > options_.memory_bytes / 4) {
    ++disk_write_skipped_;
    return;
  }
  *write_behind_bytes_ += size;
  asio::post(pool_.executor(), [disk = disk_, pending = write_behind_bytes_, key, block, size] {
    Status s = disk->Write(key, block->data);
    if (!s.ok()) BFS_LOG_WARN("block cache: {}", s.ToString());
    *pending -= size;
  });
}

bool BlockCache::Prefetch(const BlockKey& key, Fetch fetch, const asio::any_io_executor& ex) {
  {
    std::lock_guard lock(mu_);
    std::string id = key.Encode();
    if (memory_.count(id) || flights_.count(id)) return false;
    if (in_flight_ + options_.block_size > options_.memory_bytes / 2) {
      ++prefetches_refused_;
      return false;
    }
  }
  ++prefetches_;
  asio::co_spawn(ex, PrefetchTask(key, std::move(fetch)), asio::detached);
  return true;
}

Awaitable<void> BlockCache::PrefetchTask(BlockKey key, Fetch fetch) {
  BlockResult r = co_await Get(key, std::move(fetch));
  (void)r;  // a failed prefetch is retried by the demand read that needs the block
}

BlockCacheStats BlockCache::Stats() const {
  BlockCacheStats s;
  {
    std::lock_guard lock(mu_);
    s.memory_bytes = resident_;
    s.memory_blocks = memory_.size();
    s.in_flight_bytes = in_flight_;
  }
  s.memory_hits = memory_hits_;
  s.memory_misses = memory_misses_;
  s.memory_evictions = memory_evictions_;
  s.coalesced = coalesced_;
  s.fetches = fetches_;
  s.fetch_errors = fetch_errors_;
  s.fetched_bytes = fetched_bytes_;
  s.prefetches = prefetches_;
  s.prefetches_refused = prefetches_refused_;
  s.backpressure_waits = backpressure_waits_;
  s.disk_write_skipped = disk_write_skipped_;
  if (disk_) {
    s.has_disk = true;
    s.disk = disk_->Stats();
  }
  return s;
}

}  // namespace bucketfs::cache
