// CallMemory: how a Program charges the buffers one call allocates (the data of a READ reply, a
// copy of WRITE data) to the server's reply budget (ServerOptions::reply_budget), so that the
// payload bytes of all calls in flight stay within it. The server makes one per call and hands
// it to the program in CallContext::memory; bytes the program holds until sent are released
// once the reply record has been written to the socket (or dropped with the connection).
//
// Deadlock avoidance: a call that already holds reply bytes (HoldUntilSent) never waits for
// more (a COMPOUND with two READs): every call doing that at once would wait forever. Its
// further Acquire calls get only bytes that are free at once, else kUnavailable (NFS answers
// NFS4ERR_DELAY and the client retries). The reply budget is separate from the request budget
// that the connection charged for the call's record, so waiting here while holding the record is
// no hold-and-wait on one budget.
//
// Thread-safety: one per call, used by that call's coroutine only (not thread-safe). Ownership:
// the server owns it for the duration of Program::Call; the budget outlives it.
#pragma once

#include <cstddef>

#include "base/async.h"
#include "base/byte_budget.h"
#include "base/status.h"

namespace bucketfs::rpc {

class CallMemory {
 public:
  // `budget` null: unlimited (grants are empty).
  explicit CallMemory(ByteBudget* budget) : budget_(budget) {}
  CallMemory(const CallMemory&) = delete;
  CallMemory& operator=(const CallMemory&) = delete;

  // Takes `bytes` (clamped to the budget's capacity) before the caller allocates them, waiting
  // (FIFO, no thread blocked) while they are not free; kUnavailable instead of waiting when this
  // call already holds bytes until sent. The caller keeps the Grant as long as it holds the
  // memory, or passes it to HoldUntilSent.
  Awaitable<Result<ByteBudget::Grant>> Acquire(std::size_t bytes);
  // Keeps `grant` until the reply has been written to the socket or dropped.
  void HoldUntilSent(ByteBudget::Grant grant) { held_.Merge(std::move(grant)); }
  // Bytes kept until sent.
  std::size_t held() const { return held_.bytes(); }
  // Hands over what HoldUntilSent collected (the server keeps it with the queued reply).
  ByteBudget::Grant TakeHeld() { return std::move(held_); }

 private:
  ByteBudget* const budget_;
  ByteBudget::Grant held_;
};

}  // namespace bucketfs::rpc
