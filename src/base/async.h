// Asio/coroutine conventions shared by every layer.
//
// Every socket is driven by Boost.Asio C++20 coroutines (`Awaitable<T>`). Work that may block
// (disk, SQLite) never runs on an I/O thread: it is handed to a BlockingPool with RunBlocking(),
// which resumes the awaiting coroutine on its own executor afterwards. No mutex may be held across
// a co_await.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstddef>
#include <type_traits>
#include <utility>

namespace bucketfs {

namespace asio = boost::asio;

template <typename T>
using Awaitable = asio::awaitable<T>;

// A pool of threads for blocking work (file I/O, SQLite). Thread-safe. Owned by the composition
// root (server), borrowed by layers that need it.
class BlockingPool {
 public:
  explicit BlockingPool(std::size_t threads) : pool_(threads) {}
  ~BlockingPool() { Stop(); }
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  asio::thread_pool::executor_type executor() { return pool_.get_executor(); }
  void Stop() {
    pool_.stop();
    pool_.join();
  }

 private:
  asio::thread_pool pool_;
};

// Runs `fn()` on `pool` and resumes the calling coroutine on its own executor with the result.
// `fn` must not throw; it returns a value (typically Status or Result<T>).
template <typename F>
Awaitable<std::invoke_result_t<F>> RunBlocking(BlockingPool& pool, F fn) {
  using R = std::invoke_result_t<F>;
  auto pool_ex = pool.executor();
  co_return co_await asio::async_initiate<const asio::use_awaitable_t<>, void(R)>(
      [pool_ex](auto handler, F f) mutable {
        auto work = asio::make_work_guard(asio::get_associated_executor(handler));
        asio::post(pool_ex, [f = std::move(f), handler = std::move(handler),
                             work = std::move(work)]() mutable {
          R r = f();
          auto ex = work.get_executor();
          asio::dispatch(ex, [handler = std::move(handler), r = std::move(r)]() mutable {
            std::move(handler)(std::move(r));
          });
        });
      },
      asio::use_awaitable, std::move(fn));
}

}  // namespace bucketfs
