#include "base/byte_budget.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

namespace bucketfs {
namespace {

using Grant = ByteBudget::Grant;

// Acquires `bytes`, records `id` in `order`, and keeps the grant in `*out`.
Awaitable<void> AcquireInto(ByteBudget& budget, std::size_t bytes, int id, std::vector<int>* order,
                            std::vector<Grant>* out) {
  Grant g = co_await budget.Acquire(bytes);
  order->push_back(id);
  out->push_back(std::move(g));
}

// Runs the handlers that are ready (no thread of its own).
void Poll(asio::io_context& io) {
  io.restart();
  io.poll();
}

TEST(ByteBudgetTest, GrantsAtOnceWhenFreeAndReleasesOnDestruction) {
  asio::io_context io;
  ByteBudget budget(100);
  std::vector<int> order;
  std::vector<Grant> grants;
  asio::co_spawn(io, AcquireInto(budget, 60, 1, &order, &grants), asio::detached);
  Poll(io);
  ASSERT_EQ(grants.size(), 1u);
  EXPECT_EQ(grants[0].bytes(), 60u);
  EXPECT_EQ(budget.stats().in_use, 60u);
  EXPECT_EQ(budget.stats().waits, 0u);
  grants.clear();  // destroyed: returned
  EXPECT_EQ(budget.stats().in_use, 0u);
  EXPECT_EQ(budget.stats().peak, 60u);
}

TEST(ByteBudgetTest, ClampsToTheCapacityAndZeroIsFree) {
  asio::io_context io;
  ByteBudget budget(10);
  std::vector<int> order;
  std::vector<Grant> grants;
  asio::co_spawn(io, AcquireInto(budget, 1000, 1, &order, &grants), asio::detached);
  asio::co_spawn(io, AcquireInto(budget, 0, 2, &order, &grants), asio::detached);
  Poll(io);
  ASSERT_EQ(grants.size(), 2u);
  EXPECT_EQ(grants[0].bytes() + grants[1].bytes(), 10u);
  EXPECT_EQ(budget.stats().in_use, 10u);
  EXPECT_EQ(ByteBudget(0).capacity(), 1u);
}

TEST(ByteBudgetTest, WaitersAreServedInArrivalOrderWithoutOvertaking) {
  asio::io_context io;
  ByteBudget budget(10);
  std::optional<Grant> held = budget.TryAcquire(5);
  ASSERT_TRUE(held.has_value());
  std::vector<int> order;
  std::vector<Grant> grants;
  // 8 does not fit; 1 would, but must not overtake it.
  asio::co_spawn(io, AcquireInto(budget, 8, 1, &order, &grants), asio::detached);
  Poll(io);
  asio::co_spawn(io, AcquireInto(budget, 1, 2, &order, &grants), asio::detached);
  Poll(io);
  asio::co_spawn(io, AcquireInto(budget, 2, 3, &order, &grants), asio::detached);
  Poll(io);
  EXPECT_TRUE(order.empty());
  EXPECT_EQ(budget.stats().waiting, 3u);
  EXPECT_EQ(budget.stats().waiting_bytes, 11u);
  EXPECT_FALSE(budget.TryAcquire(1).has_value()) << "TryAcquire must not overtake waiters";

  held.reset();  // 8 and 1 fit now (9 of 10); 2 does not
  Poll(io);
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  EXPECT_EQ(budget.stats().in_use, 9u);
  EXPECT_EQ(budget.stats().waiting, 1u);

  grants[1].Release();  // the 1: 8 + 2 = 10 fits
  Poll(io);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(budget.stats().in_use, 10u);
  EXPECT_EQ(budget.stats().waits, 3u);
  EXPECT_LE(budget.stats().peak, 10u);
}

TEST(ByteBudgetTest, ShrinkAndMergeReturnAndCombineBytes) {
  asio::io_context io;
  ByteBudget budget(10);
  Grant a = *budget.TryAcquire(6);
  Grant b = *budget.TryAcquire(4);
  std::vector<int> order;
  std::vector<Grant> grants;
  asio::co_spawn(io, AcquireInto(budget, 3, 1, &order, &grants), asio::detached);
  Poll(io);
  EXPECT_TRUE(order.empty());
  a.ShrinkTo(2);  // returns 4: the waiter's 3 fit
  Poll(io);
  EXPECT_EQ(order, (std::vector<int>{1}));
  EXPECT_EQ(a.bytes(), 2u);
  a.ShrinkTo(5);  // never grows
  EXPECT_EQ(a.bytes(), 2u);
  a.Merge(std::move(b));
  EXPECT_EQ(a.bytes(), 6u);
  EXPECT_EQ(b.bytes(), 0u);  // NOLINT(bugprone-use-after-move): moved-from grants are empty
  EXPECT_EQ(budget.stats().in_use, 9u);
  Grant empty;
  empty.Merge(std::move(a));
  EXPECT_EQ(empty.bytes(), 6u);
  ByteBudget other(10);
  Grant foreign = *other.TryAcquire(3);
  empty.Merge(std::move(foreign));  // another budget's: given back, not mixed in
  EXPECT_EQ(empty.bytes(), 6u);
  EXPECT_EQ(other.stats().in_use, 0u);
  empty.Release();
  grants.clear();
  EXPECT_EQ(budget.stats().in_use, 0u);
}

TEST(ByteBudgetTest, GrantsOutliveTheBudget) {
  Grant g;
  {
    ByteBudget budget(10);
    g = *budget.TryAcquire(7);
  }
  EXPECT_EQ(g.bytes(), 7u);
  g.Release();  // the shared state is still there
  EXPECT_EQ(g.bytes(), 0u);
}

// Waits on `budget` from a coroutine on `mine`; checks that it resumes there.
Awaitable<void> WaitOnItsOwnExecutor(ByteBudget& budget, std::atomic<bool>* resumed_here) {
  auto ex = co_await asio::this_coro::executor;
  Grant g = co_await budget.Acquire(10);
  *resumed_here =
      ex == co_await asio::this_coro::executor &&
      ex.target<asio::strand<asio::io_context::executor_type>>()->running_in_this_thread();
}

TEST(ByteBudgetTest, AWaiterWokenFromAnotherThreadResumesOnItsExecutor) {
  asio::io_context io;
  auto work = asio::make_work_guard(io);
  ByteBudget budget(10);
  std::optional<Grant> held = budget.TryAcquire(10);
  std::atomic<bool> resumed_here{false};
  auto strand = asio::make_strand(io);
  asio::co_spawn(strand, WaitOnItsOwnExecutor(budget, &resumed_here), asio::detached);
  std::thread runner([&] { io.run(); });
  while (budget.stats().waiting == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  held.reset();  // from this thread
  while (budget.stats().in_use != 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  work.reset();
  runner.join();
  EXPECT_TRUE(resumed_here);
}

// Holds random amounts for a random time; checks the bytes held by everyone at once.
struct Load {
  std::atomic<std::size_t> live{0};
  std::atomic<std::size_t> peak{0};
  std::atomic<int> done{0};
};

Awaitable<void> HoldForAWhile(ByteBudget& budget, Load& load, std::size_t bytes, int micros) {
  for (int round = 0; round < 5; ++round) {
    Grant g = co_await budget.Acquire(bytes);
    const std::size_t now = load.live.fetch_add(g.bytes()) + g.bytes();
    std::size_t peak = load.peak.load();
    while (now > peak && !load.peak.compare_exchange_weak(peak, now)) {
    }
    asio::steady_timer t(co_await asio::this_coro::executor);
    t.expires_after(std::chrono::microseconds(micros));
    co_await t.async_wait(asio::use_awaitable);
    load.live.fetch_sub(g.bytes());
  }
  ++load.done;
}

TEST(ByteBudgetTest, ManyConcurrentCoroutinesNeverOvercommit) {
  constexpr std::size_t kCapacity = 1 << 20;
  constexpr int kCoroutines = 400;
  asio::io_context io;
  ByteBudget budget(kCapacity);
  Load load;
  std::mt19937 rng(42);
  std::uniform_int_distribution<std::size_t> size(1, kCapacity / 4);
  std::uniform_int_distribution<int> micros(0, 300);
  for (int i = 0; i < kCoroutines; ++i) {
    asio::co_spawn(asio::make_strand(io), HoldForAWhile(budget, load, size(rng), micros(rng)),
                   asio::detached);
  }
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back([&] { io.run(); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(load.done, kCoroutines);
  EXPECT_LE(load.peak.load(), kCapacity);
  const ByteBudget::Stats s = budget.stats();
  EXPECT_LE(s.peak, kCapacity);
  EXPECT_GT(s.waits, 0u) << "the load should have made coroutines wait";
  EXPECT_EQ(s.in_use, 0u);
  EXPECT_EQ(s.waiting, 0u);
  EXPECT_EQ(s.waiting_bytes, 0u);
}

}  // namespace
}  // namespace bucketfs
