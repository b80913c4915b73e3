// Test fixture shared by the BlockCache tests: a cache over a temp directory, an io_context to
// run coroutines on, and fetch functions that count themselves, can be slowed down or fail.
// Test-only; not thread-safe except where noted (fetches_ is atomic).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include "cache/block_cache.h"

namespace bucketfs::cache::testing {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

inline constexpr uint64_t kBlock = 1024;

inline BlockKey Key(uint64_t index, std::string version = "v1", std::string key = "object") {
  return BlockKey{"bucket", std::move(key), std::move(version), index};
}

// Deterministic bytes that differ by index and version.
inline Bytes Data(uint64_t index, std::string_view version = "v1", std::size_t size = kBlock) {
  Bytes b(size);
  for (std::size_t i = 0; i < b.size(); ++i) {
    b[i] = static_cast<uint8_t>(index * 31 + i + version.size() * 7 + version.back());
  }
  return b;
}

class BlockCacheFixture : public ::testing::Test {
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

  BlockCacheOptions Options(uint64_t memory, uint64_t disk = 0) {
    BlockCacheOptions o;
    o.block_size = kBlock;
    o.memory_bytes = memory;
    if (disk > 0) {
      o.disk_dir = dir_.string();
      o.disk_bytes = disk;
    }
    return o;
  }
  std::unique_ptr<BlockCache> Make(uint64_t memory, uint64_t disk = 0) {
    return MakeWith(Options(memory, disk));
  }
  std::unique_ptr<BlockCache> MakeWith(const BlockCacheOptions& o) {
    auto c = BlockCache::Open(o, pool_);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(c).value() : nullptr;
  }

  // A fetch of block `index` that takes `delay`, counts itself and returns `fail` if not OK.
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
  // Waits until write-behind has reached the disk.
  void Flush(BlockCache& c) {
    Spawn([&]() -> Awaitable<void> { co_await c.FlushWrites(); });
    RunAll();
  }
  fs::path FileOf(const BlockKey& k) {
    std::string name = k.FileName();
    return dir_ / name.substr(0, 2) / (name + ".blk");
  }

  fs::path dir_;
  BlockingPool pool_{2};
  asio::io_context io_;
  std::atomic<int> fetches_{0};
};

}  // namespace bucketfs::cache::testing
