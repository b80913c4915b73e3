#include "rpc/call_memory.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <optional>

namespace bucketfs::rpc {
namespace {

Awaitable<void> AcquireInto(CallMemory& memory, std::size_t bytes,
                            std::optional<Result<ByteBudget::Grant>>* out) {
  out->emplace(co_await memory.Acquire(bytes));
}

// memory.Acquire(bytes), run to completion on a private io_context.
Result<ByteBudget::Grant> Acquire(CallMemory& memory, std::size_t bytes) {
  asio::io_context io;
  std::optional<Result<ByteBudget::Grant>> out;
  asio::co_spawn(io, AcquireInto(memory, bytes, &out), asio::detached);
  io.run();
  if (!out) return InternalError("did not complete");
  return std::move(*out);
}

TEST(CallMemoryTest, WithoutABudgetNothingIsCharged) {
  CallMemory memory(nullptr);
  Result<ByteBudget::Grant> g = Acquire(memory, 1 << 30);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->bytes(), 0u);
}

TEST(CallMemoryTest, BytesHeldUntilSentAreHandedOver) {
  ByteBudget budget(100);
  CallMemory memory(&budget);
  Result<ByteBudget::Grant> a = Acquire(memory, 30);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(budget.stats().in_use, 30u);
  memory.HoldUntilSent(std::move(a).value());
  EXPECT_EQ(memory.held(), 30u);
  ByteBudget::Grant held = memory.TakeHeld();
  EXPECT_EQ(held.bytes(), 30u);
  EXPECT_EQ(memory.held(), 0u);
  held.Release();
  EXPECT_EQ(budget.stats().in_use, 0u);
}

TEST(CallMemoryTest, ACallHoldingBytesGetsMoreOnlyIfFreeAtOnce) {
  ByteBudget budget(100);
  CallMemory memory(&budget);
  Result<ByteBudget::Grant> first = Acquire(memory, 60);
  ASSERT_TRUE(first.ok());
  memory.HoldUntilSent(std::move(first).value());
  Result<ByteBudget::Grant> fits = Acquire(memory, 30);  // free now: granted
  ASSERT_TRUE(fits.ok());
  EXPECT_EQ(fits->bytes(), 30u);
  // Waiting now could deadlock with other calls doing the same: refused instead.
  Result<ByteBudget::Grant> more = Acquire(memory, 20);
  EXPECT_EQ(more.status().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(budget.stats().waiting, 0u);
  EXPECT_EQ(budget.stats().in_use, 90u);
}

}  // namespace
}  // namespace bucketfs::rpc
