// ByteBudget: an asynchronous counting semaphore over bytes, for memory that many coroutines
// allocate at once (the request and reply payloads of NFS calls in flight). A coroutine acquires
// the bytes it is about to allocate and holds them in a Grant until it no longer holds the
// memory; the bytes granted never exceed the capacity.
//
// Fairness: waiters are served strictly in arrival order (FIFO). A request that does not fit
// waits, and so does everything behind it, even a smaller request that would fit: a large
// request at the head is never overtaken, so it cannot starve. A request above the capacity is
// clamped to the capacity (it then runs alone). A waiting coroutine blocks no thread; it is
// resumed on its own executor.
//
// Deadlock: a coroutine that holds a Grant of a budget must not wait for more of the same budget
// (hold-and-wait): when every holder does that, nobody releases. Callers that may need a second
// grant use TryAcquire for it.
//
// Thread-safety: every method may be called from any thread. The internal mutex is never held
// while a waiter is resumed or a Grant destroyed. Ownership: Grants and waiters keep the
// budget's shared state alive, so the ByteBudget object itself may go first. A waiter's executor
// must outlive the wait (as for any Asio operation).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include "base/async.h"

namespace bucketfs {

class ByteBudget {
 public:
  struct Stats {
    std::size_t capacity = 0;
    std::size_t in_use = 0;         // bytes held by Grants now
    std::size_t peak = 0;           // the highest in_use seen
    std::size_t waiting = 0;        // Acquire calls waiting now
    std::size_t waiting_bytes = 0;  // what they wait for
    uint64_t waits = 0;             // Acquire calls that had to wait, ever
  };

 private:
  struct State;

 public:
  // Bytes of one budget held by their owner; returned when the Grant is destroyed, Release()d or
  // shrunk. Movable, not copyable. A default-constructed Grant holds nothing. Not thread-safe
  // itself (one owner at a time).
  class Grant {
   public:
    Grant() = default;
    ~Grant() { Release(); }
    Grant(Grant&& other) noexcept
        : state_(std::move(other.state_)), bytes_(std::exchange(other.bytes_, 0)) {}
    Grant& operator=(Grant&& other) noexcept {
      if (this != &other) {
        Release();
        state_ = std::move(other.state_);
        bytes_ = std::exchange(other.bytes_, 0);
      }
      return *this;
    }
    Grant(const Grant&) = delete;
    Grant& operator=(const Grant&) = delete;

    std::size_t bytes() const { return bytes_; }
    // Returns every byte held.
    void Release();
    // Returns the bytes held beyond `bytes` (no-op when it holds no more).
    void ShrinkTo(std::size_t bytes);
    // Takes over the bytes of `other`, a grant of the same budget or an empty one (a grant of
    // another budget is released instead: a caller's bug).
    void Merge(Grant other);

   private:
    friend class ByteBudget;
    Grant(std::shared_ptr<State> state, std::size_t bytes)
        : state_(std::move(state)), bytes_(bytes) {}

    std::shared_ptr<State> state_;
    std::size_t bytes_ = 0;
  };

  // `capacity` of at least 1 byte (0 is taken as 1).
  explicit ByteBudget(std::size_t capacity);
  ByteBudget(const ByteBudget&) = delete;
  ByteBudget& operator=(const ByteBudget&) = delete;

  // Completes with a Grant of min(bytes, capacity) once they are free and every earlier waiter
  // was served. 0 bytes completes at once with an empty Grant.
  Awaitable<Grant> Acquire(std::size_t bytes);
  // A Grant of min(bytes, capacity) if that many are free now and nobody waits; else nullopt.
  std::optional<Grant> TryAcquire(std::size_t bytes);

  std::size_t capacity() const;
  Stats stats() const;

 private:
  struct Waiter {
    explicit Waiter(std::size_t n) : bytes(n) {}
    virtual ~Waiter() = default;
    // Hands `grant` to the waiting coroutine (resumed on its executor).
    virtual void Complete(Grant grant) = 0;
    std::size_t bytes;
  };

  template <typename Handler>
  struct WaiterImpl final : Waiter {
    WaiterImpl(std::size_t n, Handler h)
        : Waiter(n),
          handler(std::move(h)),
          work(asio::make_work_guard(asio::get_associated_executor(handler))) {}
    void Complete(Grant grant) override {
      auto ex = work.get_executor();
      asio::post(ex, [h = std::move(handler), g = std::move(grant)]() mutable {
        std::move(h)(std::move(g));
      });
      work.reset();
    }
    Handler handler;
    asio::executor_work_guard<asio::associated_executor_t<Handler>> work;
  };

  struct State : std::enable_shared_from_this<State> {
    explicit State(std::size_t c) : capacity(c) {}
    // Returns `bytes` and hands freed bytes to the waiters at the head of the queue.
    void Return(std::size_t bytes);
    // Under mu: pops the waiters that fit now, counting their bytes as in use.
    std::deque<std::unique_ptr<Waiter>> PopGrantableLocked();

    const std::size_t capacity;
    mutable std::mutex mu;
    std::size_t in_use = 0;  // guarded by mu
    std::size_t peak = 0;
    std::size_t waiting_bytes = 0;
    uint64_t waits = 0;
    std::deque<std::unique_ptr<Waiter>> waiters;
  };

  // Grants `bytes` to `handler` now if they are free and nobody waits, else queues it.
  template <typename Handler>
  static void Register(const std::shared_ptr<State>& state, std::size_t bytes, Handler handler) {
    std::unique_lock lock(state->mu);
    if (bytes == 0) {
      lock.unlock();
      WaiterImpl<Handler>(0, std::move(handler)).Complete(Grant());
      return;
    }
    if (state->waiters.empty() && state->in_use + bytes <= state->capacity) {
      state->in_use += bytes;
      state->peak = std::max(state->peak, state->in_use);
      lock.unlock();
      WaiterImpl<Handler>(bytes, std::move(handler)).Complete(Grant(state, bytes));
      return;
    }
    ++state->waits;
    state->waiting_bytes += bytes;
    state->waiters.push_back(std::make_unique<WaiterImpl<Handler>>(bytes, std::move(handler)));
  }

  std::shared_ptr<State> state_;
};

}  // namespace bucketfs
