#include "base/byte_budget.h"

#include <algorithm>

namespace bucketfs {

void ByteBudget::Grant::Release() {
  if (state_ && bytes_ > 0) state_->Return(bytes_);
  bytes_ = 0;
  state_.reset();
}

void ByteBudget::Grant::ShrinkTo(std::size_t bytes) {
  if (bytes >= bytes_) return;
  const std::size_t extra = bytes_ - bytes;
  bytes_ = bytes;
  if (state_) state_->Return(extra);
  if (bytes_ == 0) state_.reset();
}

void ByteBudget::Grant::Merge(Grant other) {
  if (other.bytes_ == 0) return;
  if (bytes_ == 0) {
    *this = std::move(other);
    return;
  }
  if (other.state_ != state_) return;  // another budget's: released by `other`'s destructor
  bytes_ += std::exchange(other.bytes_, 0);
  other.state_.reset();
}

std::deque<std::unique_ptr<ByteBudget::Waiter>> ByteBudget::State::PopGrantableLocked() {
  std::deque<std::unique_ptr<Waiter>> ready;
  while (!waiters.empty() && in_use + waiters.front()->bytes <= capacity) {
    in_use += waiters.front()->bytes;
    waiting_bytes -= waiters.front()->bytes;
    ready.push_back(std::move(waiters.front()));
    waiters.pop_front();
  }
  peak = std::max(peak, in_use);
  return ready;
}

void ByteBudget::State::Return(std::size_t bytes) {
  std::deque<std::unique_ptr<Waiter>> ready;
  {
    std::lock_guard lock(mu);
    in_use -= std::min(bytes, in_use);
    ready = PopGrantableLocked();
  }
  for (auto& w : ready) w->Complete(Grant(shared_from_this(), w->bytes));
}

ByteBudget::ByteBudget(std::size_t capacity)
    : state_(std::make_shared<State>(std::max<std::size_t>(capacity, 1))) {}

Awaitable<ByteBudget::Grant> ByteBudget::Acquire(std::size_t bytes) {
  // Not a coroutine: async_initiate's own coroutine keeps the state (not `this`) in its frame,
  // and no lambda temporary lives inside a co_await expression (GCC 12 destroys those twice).
  auto initiation = [state = state_, bytes = std::min(bytes, state_->capacity)](auto handler) {
    Register(state, bytes, std::move(handler));
  };
  return asio::async_initiate<const asio::use_awaitable_t<>, void(Grant)>(std::move(initiation),
                                                                          asio::use_awaitable);
}

std::optional<ByteBudget::Grant> ByteBudget::TryAcquire(std::size_t bytes) {
  bytes = std::min(bytes, state_->capacity);
  if (bytes == 0) return Grant();
  std::lock_guard lock(state_->mu);
  if (!state_->waiters.empty() || state_->in_use + bytes > state_->capacity) return std::nullopt;
  state_->in_use += bytes;
  state_->peak = std::max(state_->peak, state_->in_use);
  return Grant(state_, bytes);
}

std::size_t ByteBudget::capacity() const { return state_->capacity; }

ByteBudget::Stats ByteBudget::stats() const {
  std::lock_guard lock(state_->mu);
  Stats s;
  s.capacity = state_->capacity;
  s.in_use = state_->in_use;
  s.peak = state_->peak;
  s.waiting = state_->waiters.size();
  s.waiting_bytes = state_->waiting_bytes;
  s.waits = state_->waits;
  return s;
}

}  // namespace bucketfs
