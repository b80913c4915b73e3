// BlockCache without a disk tier: single flight, errors, versions, the memory bound,
// backpressure, prefetch, invalidation.
#include "cache/block_cache.h"

#include <gtest/gtest.h>

#include <boost/asio/strand.hpp>
#include <thread>
#include <vector>

#include "cache/block_cache_fixture.h"

namespace bucketfs::cache {
namespace {

using namespace testing;  // NOLINT(google-build-using-namespace): the fixture's helpers

using BlockCacheTest = BlockCacheFixture;

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
    EXPECT_EQ(r->get(), results[0]->get());  // one shared block, not 50 copies
  }
  EXPECT_EQ(c->Stats().coalesced, 49u);
  // Now a hit.
  ASSERT_TRUE(GetNow(*c, Key(3), Fetcher(3)).ok());
  EXPECT_EQ(fetches_, 1);
  EXPECT_EQ(c->Stats().memory_hits, 1u);
  EXPECT_EQ(c->Stats().memory_hit_bytes, kBlock);
}

TEST_F(BlockCacheTest, ConcurrentMissesFromManyThreadsShareOneFetch) {
  auto c = Make(1 << 20);
  std::atomic<int> ok{0};
  for (int i = 0; i < 64; ++i) {
    // Each caller on its own strand of a 4-thread io_context.
    asio::co_spawn(
        asio::make_strand(io_),
        [&]() -> Awaitable<void> {
          auto r = co_await c->Get(Key(7), Fetcher(7, 10ms));
          if (r.ok() && (*r)->data == Data(7)) ++ok;
        },
        asio::detached);
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back([&] { io_.run(); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok, 64);
  EXPECT_EQ(fetches_, 1);
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
  ASSERT_EQ(results.size(), 5u);
  for (auto& r : results) {
    EXPECT_EQ(r.status().code(), ErrorCode::kUnavailable);
    EXPECT_EQ(r.status().message(), "503");
  }
  auto again = GetNow(*c, Key(1), Fetcher(1));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(fetches_, 2);
  BlockCacheStats s = c->Stats();
  EXPECT_EQ(s.in_flight_bytes, 0u);
  EXPECT_EQ(s.fetch_errors, 1u);
}

TEST_F(BlockCacheTest, AnOversizedFetchIsAnErrorNotABlock) {
  auto c = Make(1 << 20);
  Fetch too_big = []() -> Awaitable<Result<Bytes>> { co_return Bytes(kBlock + 1); };
  auto r = GetNow(*c, Key(0), too_big);
  EXPECT_EQ(r.status().code(), ErrorCode::kInternal);
  EXPECT_FALSE(c->InMemory(Key(0)));
  EXPECT_EQ(c->Stats().in_flight_bytes, 0u);
}

TEST_F(BlockCacheTest, AnotherVersionNeverGetsTheOldBytes) {
  auto c = Make(1 << 20);
  ASSERT_TRUE(GetNow(*c, Key(0, "old"), Fetcher(0, 0ms, "old")).ok());
  auto fresh = GetNow(*c, Key(0, "new"), Fetcher(0, 0ms, "new"));
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ((*fresh)->data, Data(0, "new"));
  EXPECT_NE((*fresh)->data, Data(0, "old"));
  EXPECT_EQ(fetches_, 2);
}

TEST_F(BlockCacheTest, ShortLastBlockIsKeptAsIs) {
  auto c = Make(1 << 20);
  Fetch short_block = []() -> Awaitable<Result<Bytes>> { co_return Data(9, "v1", 100); };
  auto r = GetNow(*c, Key(9), short_block);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->data.size(), 100u);
  EXPECT_EQ(c->Stats().memory_bytes, 100u);
}

TEST_F(BlockCacheTest, MemoryBudgetHoldsUnderConcurrentLoad) {
  const uint64_t budget = 8 * kBlock;
  auto c = Make(budget);
  std::atomic<int> done{0}, wrong{0};
  // 400 reads of 100 keys (each read 4 times) from 4 threads, slow fetches.
  for (uint64_t i = 0; i < 400; ++i) {
    const uint64_t k = (i * 37) % 100;
    asio::co_spawn(
        asio::make_strand(io_),
        [&, k]() -> Awaitable<void> {
          auto r = co_await c->Get(Key(k), Fetcher(k, 2ms));
          if (!r.ok() || (*r)->data != Data(k)) ++wrong;
          ++done;
        },
        asio::detached);
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back([&] { io_.run(); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(done, 400);
  EXPECT_EQ(wrong, 0);
  BlockCacheStats s = c->Stats();
  EXPECT_LE(s.peak_charged_bytes, budget);
  EXPECT_EQ(s.peak_charged_bytes, budget);  // and it was used
  EXPECT_GT(s.backpressure_waits, 0u);
  EXPECT_GT(s.memory_evictions, 0u);
  EXPECT_LE(s.memory_bytes, budget);
  EXPECT_EQ(s.in_flight_bytes, 0u);
  EXPECT_EQ(s.waiting, 0u);
}

TEST_F(BlockCacheTest, MissesWaitInArrivalOrderWhenFetchesFillTheBudget) {
  auto c = Make(2 * kBlock);
  std::vector<uint64_t> finished;
  for (uint64_t i = 0; i < 6; ++i) {
    Spawn([&, i]() -> Awaitable<void> {
      auto r = co_await c->Get(Key(i), Fetcher(i, 5ms));
      EXPECT_TRUE(r.ok());
      finished.push_back(i);
    });
  }
  // Let the first two start their fetches and the others queue.
  io_.restart();
  io_.poll();
  BlockCacheStats s = c->Stats();
  EXPECT_EQ(s.in_flight_bytes, 2 * kBlock);
  EXPECT_EQ(s.waiting, 4u);
  EXPECT_EQ(fetches_, 2);
  RunAll();
  EXPECT_EQ(finished, (std::vector<uint64_t>{0, 1, 2, 3, 4, 5}));
  s = c->Stats();
  EXPECT_EQ(s.backpressure_waits, 4u);
  EXPECT_LE(s.peak_charged_bytes, 2 * kBlock);
  // Blocks 4 and 5 are what the budget holds at the end.
  EXPECT_TRUE(c->InMemory(Key(4)));
  EXPECT_TRUE(c->InMemory(Key(5)));
  EXPECT_EQ(s.memory_bytes, 2 * kBlock);
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
  EXPECT_LE(c->Stats().peak_charged_bytes, kBlock);
}

TEST_F(BlockCacheTest, PrefetchReservesAtOnceAndKeepsToHalfTheBudget) {
  auto c = Make(8 * kBlock);
  auto ex = io_.get_executor();
  int started = 0;
  for (uint64_t i = 0; i < 10; ++i) started += c->Prefetch(Key(i), Fetcher(i, 5ms), ex);
  EXPECT_EQ(started, 4);  // half of 8 blocks
  EXPECT_EQ(c->Stats().in_flight_bytes, 4 * kBlock);
  EXPECT_EQ(c->Stats().prefetches_refused, 6u);
  RunAll();
  EXPECT_EQ(fetches_, 4);
  for (uint64_t i = 0; i < 4; ++i) EXPECT_TRUE(c->InMemory(Key(i)));
  // A cached block is not prefetched again (and that is not a refusal).
  EXPECT_FALSE(c->Prefetch(Key(3), Fetcher(3), ex));
  EXPECT_EQ(c->Stats().prefetches_refused, 6u);
}

TEST_F(BlockCacheTest, AGetJoinsAPrefetchInFlight) {
  auto c = Make(8 * kBlock);
  ASSERT_TRUE(c->Prefetch(Key(5), Fetcher(5, 10ms), io_.get_executor()));
  EXPECT_FALSE(c->Prefetch(Key(5), Fetcher(5), io_.get_executor()));  // in flight
  auto r = GetNow(*c, Key(5), Fetcher(5));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->data, Data(5));
  EXPECT_EQ(fetches_, 1);
  EXPECT_EQ(c->Stats().coalesced, 1u);
}

TEST_F(BlockCacheTest, PrefetchYieldsToQueuedDemandReads) {
  auto c = Make(2 * kBlock);
  for (uint64_t i = 0; i < 3; ++i) {
    Spawn([&, i]() -> Awaitable<void> { (void)co_await c->Get(Key(i), Fetcher(i, 5ms)); });
  }
  io_.restart();
  io_.poll();
  ASSERT_EQ(c->Stats().waiting, 1u);
  EXPECT_FALSE(c->Prefetch(Key(9), Fetcher(9), io_.get_executor()));
  RunAll();
}

TEST_F(BlockCacheTest, InvalidateDropsEveryVersionOfOneObjectOnly) {
  auto c = Make(1 << 20);
  ASSERT_TRUE(GetNow(*c, Key(0, "a"), Fetcher(0, 0ms, "a")).ok());
  ASSERT_TRUE(GetNow(*c, Key(1, "b"), Fetcher(1, 0ms, "b")).ok());
  ASSERT_TRUE(GetNow(*c, Key(0, "a", "object2"), Fetcher(0, 0ms, "a")).ok());
  c->Invalidate("bucket", "object");
  EXPECT_FALSE(c->InMemory(Key(0, "a")));
  EXPECT_FALSE(c->InMemory(Key(1, "b")));
  EXPECT_TRUE(c->InMemory(Key(0, "a", "object2")));
  BlockCacheStats s = c->Stats();
  EXPECT_EQ(s.invalidated, 2u);
  EXPECT_EQ(s.memory_bytes, kBlock);
}

TEST_F(BlockCacheTest, OpenAsyncOpensOnThePool) {
  std::optional<Result<std::unique_ptr<BlockCache>>> opened;
  Spawn([&]() -> Awaitable<void> {
    opened.emplace(co_await BlockCache::OpenAsync(Options(1 << 20, 1 << 20), pool_));
  });
  RunAll();
  ASSERT_TRUE(opened.has_value());
  ASSERT_TRUE(opened->ok()) << opened->status().ToString();
  EXPECT_TRUE(opened->value()->Stats().has_disk);
  EXPECT_TRUE(fs::exists(dir_ / DiskTier::kTagFile));
}

}  // namespace
}  // namespace bucketfs::cache
