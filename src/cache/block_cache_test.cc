#include "cache/block_cache.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <filesystem>
#include <fstream>

namespace bucketfs::cache {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr uint64_t kBlock = 1024;

BlockKey Key(uint64_t index, std::string version = "v1") {
  return BlockKey{"bucket", "object", std::move(version), index};
}
Bytes Data(uint64_t index, std::string_view version = "v1") {
  Bytes b(kBlock);
  for (std::size_t i = 0; i < b.size(); ++i) {
    b[i] = static_cast<uint8_t>(index * 31 + i + version.size() * 7 + version.back());
  }
  return b;
}

class BlockCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("bfs-cache-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override {
    pool_.Stop();  // write-behind finishes before the directory goes
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::unique_ptr<BlockCache> Make(uint64_t memory, bool disk = false) {
    BlockCacheOptions o;
    o.block_size = kBlock;
    o.memory_bytes = memory;
    if (disk) {
      o.disk_dir = dir_.string();
      o.disk_bytes = 1 << 20;
    }
    auto c = BlockCache::Open(o, pool_);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(c).value() : nullptr;
  }

  // A fetch of block `index` that takes `delay` and counts itself.
  Fetch Fetcher(uint64_t index, std::chrono::milliseconds delay = 0ms, std::string version = "v1",
                Status fail = Status::Ok()) {
    return [this, index, delay, version, fail]() -> Awaitable<Result<Bytes>> {
      ++fetches_;
      if (delay.count() > 0) {
        asio::steady_timer t(co_await asio::this_coro::executor, delay);
        co_await t.async_wait(asio::use_awaitable);
      }
      if (!fail.ok()) co_return fail;
      co_return Data(index, version);
    };
  }

  template <typename F>
  void Spawn(F f) {
    asio::co_spawn(io_, std::move(f), asio::detached);
  }
  void RunAll() {
    io_.restart();
    io_.run();
  }
  BlockResult GetNow(BlockCache& c, const BlockKey& k, Fetch f) {
    std::optional<BlockResult> out;
    Spawn([&]() -> Awaitable<void> { out.emplace(co_await c.Get(k, f)); });
    RunAll();
    return std::move(*out);
  }
  // Lets write-behind reach the disk.
  void DrainPool() {
    for (int i = 0; i < 200; ++i) {
      std::this_thread::sleep_for(5ms);
      bool done = false;
      asio::post(pool_.executor(), [&] { done = true; });
      std::this_thread::sleep_for(5ms);
      if (done) return;
    }
  }

  fs::path dir_;
  BlockingPool pool_{2};
  asio::io_context io_;
  std::atomic<int> fetches_{0};
};

TEST_F(BlockCacheTest, ConcurrentMissesShareOneFetch) {
  auto c = Make(1 << 20);
  std::vector<BlockResult> results;
  for (int i = 0; i < 50; ++i) {
    Spawn(
        [&]() -> Awaitable<void> { results.push_back(co_await c->Get(Key(3), Fetcher(3, 20ms))); });
  }
  RunAll();
  EXPECT_EQ(fetches_, 1);
  ASSERT_EQ(results.size(), 50u);
  for (auto& r : results) {
    ASSERT_TRUE(r.ok());
    EXPECT_EQ((*r)->data, Data(3));
  }
  EXPECT_EQ(c->Stats().coalesced, 49u);
  // Now a hit.
  ASSERT_TRUE(GetNow(*c, Key(3), Fetcher(3)).ok());
  EXPECT_EQ(fetches_, 1);
  EXPECT_EQ(c->Stats().memory_hits, 1u);
}

TEST_F(BlockCacheTest, AnErrorReachesEveryWaiterAndIsNotCached) {
  auto c = Make(1 << 20);
  std::vector<BlockResult> results;
  for (int i = 0; i < 5; ++i) {
    Spawn([&]() -> Awaitable<void> {
      results.push_back(co_await c->Get(Key(1), Fetcher(1, 10ms, "v1", UnavailableError("503"))));
    });
  }
  RunAll();
  EXPECT_EQ(fetches_, 1);
  for (auto& r : results) EXPECT_EQ(r.status().code(), ErrorCode::kUnavailable);
  auto again = GetNow(*c, Key(1), Fetcher(1));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(fetches_, 2);
  EXPECT_EQ(c->Stats().in_flight_bytes, 0u);
}

TEST_F(BlockCacheTest, AnotherVersionNeverGetsTheOldBytes) {
  auto c = Make(1 << 20);
  ASSERT_TRUE(GetNow(*c, Key(0, "old"), Fetcher(0, 0ms, "old")).ok());
  auto fresh = GetNow(*c, Key(0, "new"), Fetcher(0, 0ms, "new"));
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ((*fresh)->data, Data(0, "new"));
  EXPECT_NE((*fresh)->data, Data(0, "old"));
}

TEST_F(BlockCacheTest, MemoryBudgetHoldsUnderLoadAndMissesWaitInsteadOfOvershooting) {
  const uint64_t budget = 8 * kBlock;
  auto c = Make(budget);
  uint64_t peak = 0;
  int done = 0;
  asio::steady_timer sampler(io_);
  for (uint64_t i = 0; i < 100; ++i) {
    Spawn([&, i]() -> Awaitable<void> {
      auto r = co_await c->Get(Key(i), Fetcher(i, 5ms));
      EXPECT_TRUE(r.ok());
      if (r.ok()) {
        EXPECT_EQ((*r)->data, Data(i));
      }
      BlockCacheStats s = c->Stats();
      peak = std::max(peak, s.memory_bytes + s.in_flight_bytes);
      ++done;
    });
  }
  Spawn([&]() -> Awaitable<void> {
    while (done < 100) {
      BlockCacheStats s = c->Stats();
      peak = std::max(peak, s.memory_bytes + s.in_flight_bytes);
      sampler.expires_after(1ms);
      co_await sampler.async_wait(asio::use_awaitable);
    }
  });
  RunAll();
  EXPECT_EQ(done, 100);
  EXPECT_LE(peak, budget);
  BlockCacheStats s = c->Stats();
  EXPECT_GT(s.backpressure_waits, 0u);
  EXPECT_GT(s.memory_evictions, 0u);
  EXPECT_LE(s.memory_bytes, budget);
  EXPECT_EQ(s.in_flight_bytes, 0u);
}

TEST_F(BlockCacheTest, BudgetBelowOneBlockStillServesButKeepsNothing) {
  auto c = Make(kBlock / 2);
  for (int round = 0; round < 2; ++round) {
    auto r = GetNow(*c, Key(0), Fetcher(0));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ((*r)->data, Data(0));
  }
  EXPECT_EQ(fetches_, 2);
  EXPECT_EQ(c->Stats().memory_bytes, 0u);
}

TEST_F(BlockCacheTest, PrefetchLoadsInTheBackgroundAndRespectsItsShare) {
  auto c = Make(8 * kBlock);
  auto ex = io_.get_executor();
  int started = 0;
  for (uint64_t i = 0; i < 10; ++i) started += c->Prefetch(Key(i), Fetcher(i, 5ms), ex);
  EXPECT_EQ(started, 10);  // reservations happen when the tasks run
  RunAll();
  EXPECT_EQ(fetches_, 10);
  // A cached or in-flight block is not prefetched again.
  EXPECT_FALSE(c->Prefetch(Key(9), Fetcher(9), ex));
  EXPECT_TRUE(c->InMemory(Key(9)));
}

TEST_F(BlockCacheTest, DiskTierServesAfterARestartWithoutFetching) {
  {
    auto c = Make(1 << 20, /*disk=*/true);
    for (uint64_t i = 0; i < 4; ++i) ASSERT_TRUE(GetNow(*c, Key(i), Fetcher(i)).ok());
    DrainPool();
    EXPECT_EQ(c->Stats().disk.files, 4u);
  }
  fetches_ = 0;
  auto c = Make(1 << 20, /*disk=*/true);
  for (uint64_t i = 0; i < 4; ++i) {
    auto r = GetNow(*c, Key(i), Fetcher(i));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ((*r)->data, Data(i));
  }
  EXPECT_EQ(fetches_, 0);
  EXPECT_EQ(c->Stats().disk.hits, 4u);
}

TEST_F(BlockCacheTest, DamagedDiskBlockIsRefetchedNotServed) {
  {
    auto c = Make(1 << 20, /*disk=*/true);
    ASSERT_TRUE(GetNow(*c, Key(0), Fetcher(0)).ok());
    DrainPool();
  }
  std::string name = Key(0).FileName();
  fs::path file = dir_ / name.substr(0, 2) / (name + ".blk");
  ASSERT_TRUE(fs::exists(file));
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-1, std::ios::end);
    f.put('\x00' + 1);
  }
  fetches_ = 0;
  auto c = Make(1 << 20, /*disk=*/true);
  auto r = GetNow(*c, Key(0), Fetcher(0));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->data, Data(0));
  EXPECT_EQ(fetches_, 1);
  EXPECT_EQ(c->Stats().disk.corrupt, 1u);
}

}  // namespace
}  // namespace bucketfs::cache
