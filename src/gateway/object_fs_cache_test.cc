// ObjectFileSystem reads through the shared block cache: one GET per block whatever the number
// of readers, exact bytes across block boundaries and at EOF, never old and new bytes mixed, and
// read-ahead for sequential readers only.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <random>

#include "gateway/object_fs.h"
#include "gateway/testing/fake_object_store.h"

namespace bucketfs::gateway {
namespace {

using testing::FakeObjectStore;
using Op = FakeObjectStore::Op;

constexpr uint64_t kBlock = 4096;

std::string Pattern(std::size_t n, int seed) {
  std::string s(n, '\0');
  std::mt19937 rng(seed);
  for (auto& c : s) c = static_cast<char>('a' + rng() % 26);
  return s;
}

class CachedReadTest : public ::testing::Test {
 protected:
  CachedReadTest() : store_(std::make_shared<FakeObjectStore>()) {}

  std::unique_ptr<ObjectFileSystem> MakeFs(uint64_t memory = 64 * kBlock) {
    cache::BlockCacheOptions c;
    c.block_size = kBlock;
    c.memory_bytes = memory;
    auto opened = cache::BlockCache::Open(c, pool_);
    EXPECT_TRUE(opened.ok());
    cache_ = std::move(opened).value();
    ObjectFsOptions o;
    o.cache = cache_;
    o.read_ahead.initial_window_blocks = 2;
    o.read_ahead.max_window_blocks = 4;
    return std::make_unique<ObjectFileSystem>(store_, std::move(o));
  }

  template <typename T>
  T Run(Awaitable<T> aw) {
    std::optional<T> out;
    asio::co_spawn(
        io_, [&]() -> Awaitable<void> { out.emplace(co_await std::move(aw)); }, asio::detached);
    io_.restart();
    io_.run();
    return std::move(*out);
  }

  vfs::InodeId Ino(ObjectFileSystem& fs, const std::string& name) {
    auto a = Run(fs.Lookup(fs.RootInode(), name));
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    return a.ok() ? a->ino : 0;
  }

  std::string ReadStr(ObjectFileSystem& fs, vfs::InodeId ino, uint64_t off, uint32_t n) {
    auto r = Run(fs.Read(ino, off, n));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::string(r->data.begin(), r->data.end()) : "";
  }

  BlockingPool pool_{2};
  asio::io_context io_;
  std::shared_ptr<FakeObjectStore> store_;
  std::shared_ptr<cache::BlockCache> cache_;
};

TEST_F(CachedReadTest, EveryByteAtRandomOffsetsAcrossBlocksAndAtEof) {
  const std::string body = Pattern(10 * kBlock + 123, 1);
  store_->PutSync("f", body);
  auto fs = MakeFs();
  vfs::InodeId ino = Ino(*fs, "f");
  std::mt19937 rng(7);
  for (int i = 0; i < 300; ++i) {
    uint64_t off = rng() % (body.size() + 10);
    uint32_t n = 1 + rng() % (3 * kBlock);
    auto r = Run(fs->Read(ino, off, n));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    std::string want = off < body.size() ? body.substr(off, n) : "";
    ASSERT_EQ(std::string(r->data.begin(), r->data.end()), want) << "offset " << off << " n " << n;
    EXPECT_EQ(r->eof, off + want.size() >= body.size());
  }
  // Eleven blocks, each fetched once however often it was read.
  EXPECT_EQ(store_->count(Op::kGet), 11u);
}

TEST_F(CachedReadTest, ConcurrentReadersOfOneBlockCauseOneGet) {
  store_->PutSync("f", Pattern(kBlock, 2));
  auto fs = MakeFs();
  vfs::InodeId ino = Ino(*fs, "f");
  store_->set_latency(std::chrono::milliseconds(10));
  int ok = 0;
  for (int i = 0; i < 20; ++i) {
    asio::co_spawn(
        io_,
        [&, i]() -> Awaitable<void> {
          auto r = co_await fs->Read(ino, i * 100, 100);
          ok += r.ok() && r->data.size() == 100;
        },
        asio::detached);
  }
  io_.restart();
  io_.run();
  EXPECT_EQ(ok, 20);
  EXPECT_EQ(store_->count(Op::kGet), 1u);
}

TEST_F(CachedReadTest, ReplacedObjectIsNeverServedMixed) {
  const std::string old_body = Pattern(3 * kBlock, 3);
  const std::string new_body = Pattern(3 * kBlock, 4);
  store_->PutSync("f", old_body);
  auto fs = MakeFs();
  vfs::InodeId ino = Ino(*fs, "f");
  EXPECT_EQ(ReadStr(*fs, ino, 0, kBlock), old_body.substr(0, kBlock));  // block 0 cached
  store_->PutSync("f", new_body);  // same size, new ETag, behind the gateway's back
  // Block 1 is not cached: its GET fails If-Match, the inode is refreshed, and from then on only
  // the new version's blocks are used, including block 0.
  EXPECT_EQ(ReadStr(*fs, ino, kBlock - 10, 20), new_body.substr(kBlock - 10, 20));
  EXPECT_EQ(ReadStr(*fs, ino, 0, kBlock), new_body.substr(0, kBlock));
}

TEST_F(CachedReadTest, SequentialReaderGetsReadAheadRandomReaderDoesNot) {
  const std::string body = Pattern(64 * kBlock, 5);
  store_->PutSync("seq", body);
  store_->PutSync("rnd", body);
  auto fs = MakeFs();
  vfs::InodeId seq = Ino(*fs, "seq");
  vfs::InodeId rnd = Ino(*fs, "rnd");
  store_->ResetCounts();
  for (uint64_t off = 0; off < 8 * kBlock; off += kBlock / 2) {
    ASSERT_EQ(ReadStr(*fs, seq, off, kBlock / 2), body.substr(off, kBlock / 2));
  }
  // Read 8 blocks; read-ahead fetched beyond them (window up to 4 blocks).
  EXPECT_GT(store_->count(Op::kGet), 8u);
  EXPECT_LE(store_->count(Op::kGet), 12u);
  store_->ResetCounts();
  std::mt19937 rng(9);
  for (int i = 0; i < 30; ++i) {
    uint64_t off = (rng() % 64) * kBlock + 17;
    ASSERT_EQ(ReadStr(*fs, rnd, off, 100), body.substr(off, 100));
  }
  // Random reads fetch only the blocks they touch.
  EXPECT_LE(store_->count(Op::kGet), 30u);
  EXPECT_EQ(cache_->Stats().prefetches_refused, 0u);
}

TEST_F(CachedReadTest, DeletedObjectAnswersStale) {
  store_->PutSync("f", Pattern(2 * kBlock, 6));
  auto fs = MakeFs();
  vfs::InodeId ino = Ino(*fs, "f");
  EXPECT_EQ(ReadStr(*fs, ino, 0, 10).size(), 10u);
  store_->DeleteSync("f");
  auto r = Run(fs->Read(ino, kBlock, 10));  // block 1 was never cached
  EXPECT_EQ(r.status().code(), ErrorCode::kStale);
}

}  // namespace
}  // namespace bucketfs::gateway
