// SingleFlight: coalesces concurrent calls for the same key into one execution. The first caller
// for a key runs the work; callers that arrive while it is in flight wait for its result (a copy)
// instead of starting their own. Once the result is delivered the key is free again.
//
// Thread-safety: all members are safe to call from any coroutine on any executor. The internal
// mutex is never held across a co_await; waiters are resumed on their own executors (post).
// Ownership: the SingleFlight must outlive every Run() in progress.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/async.h"

namespace bucketfs {

// A one-shot value that many coroutines can await. Set() once; Wait() before or after Set()
// yields a copy of the value.
template <typename T>
class AsyncLatch {
 public:
  Awaitable<T> Wait() {
    return asio::async_initiate<const asio::use_awaitable_t<>, void(T)>(
        [this](auto handler) { Register(std::move(handler)); }, asio::use_awaitable);
  }

  void Set(T value) {
    std::vector<std::unique_ptr<Waiter>> waiters;
    {
      std::lock_guard lock(mu_);
      value_ = std::move(value);
      waiters.swap(waiters_);
    }
    for (auto& w : waiters) w->Complete(*value_);
  }

 private:
  struct Waiter {
    virtual ~Waiter() = default;
    virtual void Complete(const T& value) = 0;
  };

  template <typename Handler>
  struct WaiterImpl : Waiter {
    explicit WaiterImpl(Handler h)
        : handler(std::move(h)),
          work(asio::make_work_guard(asio::get_associated_executor(handler))) {}
    void Complete(const T& value) override {
      auto ex = work.get_executor();
      asio::post(ex, [h = std::move(handler), v = value]() mutable { std::move(h)(std::move(v)); });
      work.reset();
    }
    Handler handler;
    asio::executor_work_guard<asio::associated_executor_t<Handler>> work;
  };

  template <typename Handler>
  void Register(Handler handler) {
    std::unique_lock lock(mu_);
    if (value_.has_value()) {
      lock.unlock();
      WaiterImpl<Handler>(std::move(handler)).Complete(*value_);
      return;
    }
    waiters_.push_back(std::make_unique<WaiterImpl<Handler>>(std::move(handler)));
  }

  std::mutex mu_;
  std::optional<T> value_;  // written once, under mu_, before any waiter is completed
  std::vector<std::unique_ptr<Waiter>> waiters_;
};

template <typename Key, typename T, typename Hash = std::hash<Key>>
class SingleFlight {
 public:
  // Runs `work()` unless a run for `key` is in flight, in which case it waits for that run's
  // result. `work` is only invoked by the leader, and is taken by reference: it must live until
  // the returned awaitable completes. Pass a named lambda, e.g.
  //   auto work = [this, &key_str] { return Load(key_str); };
  //   co_return co_await flight.Run(id, work);
  // (GCC 12 mishandles lambda temporaries with non-trivial captures inside co_await
  // expressions: the capture is destroyed from a relocated copy.)
  template <typename Work>
  Awaitable<T> Run(Key key, const Work& work) {
    std::shared_ptr<AsyncLatch<T>> latch;
    bool leader = false;
    {
      std::lock_guard lock(mu_);
      auto [it, inserted] = in_flight_.try_emplace(key);
      if (inserted) it->second = std::make_shared<AsyncLatch<T>>();
      latch = it->second;
      leader = inserted;
    }
    if (!leader) co_return co_await latch->Wait();
    T result = co_await work();
    {
      std::lock_guard lock(mu_);
      in_flight_.erase(key);
    }
    latch->Set(result);
    co_return result;
  }

  std::size_t InFlight() const {
    std::lock_guard lock(mu_);
    return in_flight_.size();
  }

 private:
  mutable std::mutex mu_;
  std::unordered_map<Key, std::shared_ptr<AsyncLatch<T>>, Hash> in_flight_;
};

}  // namespace bucketfs
