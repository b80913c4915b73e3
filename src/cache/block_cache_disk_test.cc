// BlockCache with its disk tier: write-behind, reuse after a restart, damaged files refetched
// and never served, the disk budget, disk reads inside the memory budget.
#include <gtest/gtest.h>

#include <fstream>
#include <vector>

#include "cache/block_cache.h"
#include "cache/block_cache_fixture.h"

namespace bucketfs::cache {
namespace {

using namespace testing;  // NOLINT(google-build-using-namespace): the fixture's helpers

constexpr uint64_t kDisk = 1 << 20;

class BlockCacheDiskTest : public BlockCacheFixture {
 protected:
  // Fills the disk tier with blocks 0..n-1 of version "v1" through one cache, then drops it.
  void Populate(uint64_t n) {
    auto c = Make(1 << 20, kDisk);
    for (uint64_t i = 0; i < n; ++i) ASSERT_TRUE(GetNow(*c, Key(i), Fetcher(i)).ok());
    Flush(*c);
    ASSERT_EQ(c->Stats().disk.files, n);
    fetches_ = 0;
  }
  // Reads block i through `c` and checks it has the right bytes.
  void ExpectRight(BlockCache& c, uint64_t i) {
    auto r = GetNow(c, Key(i), Fetcher(i));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ((*r)->data, Data(i));
  }
};

TEST_F(BlockCacheDiskTest, FetchedBlocksAreWrittenBehindAndServedAfterARestart) {
  Populate(4);
  auto c = Make(1 << 20, kDisk);
  EXPECT_EQ(c->Stats().disk.files, 4u);
  for (uint64_t i = 0; i < 4; ++i) ExpectRight(*c, i);
  EXPECT_EQ(fetches_, 0);
  EXPECT_EQ(c->Stats().disk.hits, 4u);
  // Read from disk once, then from memory.
  ExpectRight(*c, 0);
  EXPECT_EQ(c->Stats().disk.hits, 4u);
  EXPECT_EQ(c->Stats().memory_hits, 1u);
}

TEST_F(BlockCacheDiskTest, ConcurrentMissesOnADiskBlockReadItOnce) {
  Populate(1);
  auto c = Make(1 << 20, kDisk);
  int ok = 0;
  for (int i = 0; i < 20; ++i) {
    Spawn([&]() -> Awaitable<void> {
      auto r = co_await c->Get(Key(0), Fetcher(0));
      ok += r.ok() && (*r)->data == Data(0);
    });
  }
  RunAll();
  EXPECT_EQ(ok, 20);
  EXPECT_EQ(fetches_, 0);
  EXPECT_EQ(c->Stats().disk.hits, 1u);
}

TEST_F(BlockCacheDiskTest, DiskReadsAreChargedToTheMemoryBudget) {
  Populate(12);
  const uint64_t budget = 3 * kBlock;
  auto c = Make(budget, kDisk);
  int ok = 0;
  for (uint64_t i = 0; i < 12; ++i) {
    Spawn([&, i]() -> Awaitable<void> {
      auto r = co_await c->Get(Key(i), Fetcher(i));
      ok += r.ok() && (*r)->data == Data(i);
    });
  }
  RunAll();
  EXPECT_EQ(ok, 12);
  EXPECT_EQ(fetches_, 0);
  BlockCacheStats s = c->Stats();
  EXPECT_LE(s.peak_charged_bytes, budget);
  EXPECT_GT(s.backpressure_waits, 0u);
}

TEST_F(BlockCacheDiskTest, AnotherVersionIsNotServedFromDisk) {
  Populate(1);
  auto c = Make(1 << 20, kDisk);
  auto r = GetNow(*c, Key(0, "v2"), Fetcher(0, 0ms, "v2"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->data, Data(0, "v2"));
  EXPECT_EQ(fetches_, 1);
}

// Damage done to block 0's file by each case; the block must be refetched, never served.
enum class Damage { kFlipDataByte, kFlipHeaderByte, kTruncate, kEmpty, kOtherBlocksFile };

class DamagedBlockTest : public BlockCacheDiskTest, public ::testing::WithParamInterface<Damage> {};

TEST_P(DamagedBlockTest, IsDetectedRefetchedAndRewritten) {
  Populate(2);
  const fs::path file = FileOf(Key(0));
  ASSERT_TRUE(fs::exists(file));
  const uint64_t size = fs::file_size(file);
  switch (GetParam()) {
    case Damage::kFlipDataByte:
    case Damage::kFlipHeaderByte: {
      std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
      const std::streamoff at = GetParam() == Damage::kFlipDataByte ? size - 10 : 20;
      f.seekg(at);
      char ch = 0;
      f.get(ch);
      f.seekp(at);
      f.put(static_cast<char>(ch ^ 0x04));
      break;
    }
    case Damage::kTruncate:
      fs::resize_file(file, size - 1);
      break;
    case Damage::kEmpty:
      fs::resize_file(file, 0);
      break;
    case Damage::kOtherBlocksFile:
      fs::copy_file(FileOf(Key(1)), file, fs::copy_options::overwrite_existing);
      break;
  }
  // Damage found at open (header, size, name) or on read (checksum, key): either way.
  auto c = Make(1 << 20, kDisk);
  ExpectRight(*c, 0);
  EXPECT_EQ(fetches_, 1);
  EXPECT_EQ(c->Stats().disk.corrupt, 1u);
  ExpectRight(*c, 1);  // the undamaged neighbour is still served from disk
  EXPECT_EQ(fetches_, 1);
  // The refetched block was written again, intact.
  Flush(*c);
  c.reset();
  fetches_ = 0;
  auto again = Make(1 << 20, kDisk);
  ExpectRight(*again, 0);
  EXPECT_EQ(fetches_, 0);
  EXPECT_EQ(again->Stats().disk.corrupt, 0u);
}

INSTANTIATE_TEST_SUITE_P(AllDamages, DamagedBlockTest,
                         ::testing::Values(Damage::kFlipDataByte, Damage::kFlipHeaderByte,
                                           Damage::kTruncate, Damage::kEmpty,
                                           Damage::kOtherBlocksFile));

TEST_F(BlockCacheDiskTest, DamageAfterOpenIsCaughtOnRead) {
  Populate(1);
  auto c = Make(1 << 20, kDisk);
  {
    std::fstream f(FileOf(Key(0)), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-1, std::ios::end);
    f.put('\x7f');
  }
  ExpectRight(*c, 0);
  EXPECT_EQ(fetches_, 1);
  EXPECT_EQ(c->Stats().disk.corrupt, 1u);
}

TEST_F(BlockCacheDiskTest, AnotherBlockSizeIsDiscardedNotMisread) {
  Populate(2);
  BlockCacheOptions o = Options(1 << 20, kDisk);
  o.block_size = kBlock / 2;  // block 1 now means other bytes
  auto c = MakeWith(o);
  EXPECT_EQ(c->Stats().disk.files, 0u);
  EXPECT_EQ(c->Stats().disk.discarded, 2u);
  EXPECT_EQ(c->Stats().disk.corrupt, 0u);
  Fetch half = []() -> Awaitable<Result<Bytes>> { co_return Bytes(kBlock / 2, 0xab); };
  auto r = GetNow(*c, Key(1), half);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->data, Bytes(kBlock / 2, 0xab));
}

TEST_F(BlockCacheDiskTest, LeftoverTempFilesAreRemovedAtOpen) {
  Populate(1);
  { std::ofstream(dir_ / "tmp" / "abc.1.1.tmp") << "half a block"; }
  auto c = Make(1 << 20, kDisk);
  EXPECT_TRUE(fs::is_empty(dir_ / "tmp"));
  ExpectRight(*c, 0);
  EXPECT_EQ(fetches_, 0);
}

TEST_F(BlockCacheDiskTest, TheDiskBudgetHolds) {
  const uint64_t disk = 10 * (kBlock + 100);
  auto c = Make(1 << 20, disk);
  for (uint64_t i = 0; i < 50; ++i) ASSERT_TRUE(GetNow(*c, Key(i), Fetcher(i)).ok());
  Flush(*c);
  DiskTierStats s = c->Stats().disk;
  EXPECT_LE(s.bytes, disk);
  EXPECT_GE(s.evictions, 40u);
  uint64_t files = 0, bytes = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir_)) {
    if (e.is_regular_file() && e.path().extension() == ".blk") {
      ++files;
      bytes += e.file_size();
    }
  }
  EXPECT_EQ(files, s.files);
  EXPECT_EQ(bytes, s.bytes);
}

TEST_F(BlockCacheDiskTest, InvalidateRemovesTheObjectsFiles) {
  Populate(3);
  auto c = Make(1 << 20, kDisk);
  ExpectRight(*c, 0);
  c->Invalidate("bucket", "object");
  Flush(*c);  // the erase runs on the pool
  EXPECT_EQ(c->Stats().disk.files, 0u);
  EXPECT_FALSE(fs::exists(FileOf(Key(1))));
  EXPECT_FALSE(c->InMemory(Key(0)));
}

TEST_F(BlockCacheDiskTest, ADirectoryWithOtherFilesIsRefused) {
  fs::create_directories(dir_ / "photos");
  { std::ofstream(dir_ / "notes.txt") << "mine"; }
  auto c = BlockCache::Open(Options(1 << 20, kDisk), pool_);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(c.status().message().find("not a bucketfs cache"), std::string::npos);
  EXPECT_TRUE(fs::exists(dir_ / "notes.txt"));
}

}  // namespace
}  // namespace bucketfs::cache
