#include "gateway/read_ahead.h"

#include <gtest/gtest.h>

#include <set>

namespace bucketfs::gateway {
namespace {

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kBlock = 4 * kMiB;
constexpr uint64_t kFile = 1024 * kMiB;

ReadAheadOptions Options() {
  ReadAheadOptions o;
  o.block_size = kBlock;
  o.initial_window_blocks = 2;
  o.max_window_blocks = 8;
  o.max_streams = 4;
  o.max_inodes = 3;
  return o;
}

// Reads the file sequentially in 1 MiB READs and returns every planned block, checking that no
// block is planned twice.
std::set<uint64_t> ReadSequentially(ReadAhead& ra, vfs::InodeId ino, uint64_t from, uint64_t to,
                                    uint64_t file_size = kFile) {
  std::set<uint64_t> planned;
  for (uint64_t off = from; off < to; off += kMiB) {
    ReadAheadPlan p = ra.OnRead(ino, off, kMiB, file_size);
    for (uint64_t b = p.first; b < p.first + p.count; ++b) {
      EXPECT_TRUE(planned.insert(b).second) << "block " << b << " planned twice";
    }
  }
  return planned;
}

TEST(ReadAheadTest, ThirdSequentialReadStartsTheWindow) {
  ReadAhead ra(Options());
  EXPECT_TRUE(ra.OnRead(7, 0, kMiB, kFile).empty());
  EXPECT_TRUE(ra.OnRead(7, kMiB, kMiB, kFile).empty());
  ReadAheadPlan p = ra.OnRead(7, 2 * kMiB, kMiB, kFile);
  EXPECT_EQ(p.first, 0u);
  EXPECT_EQ(p.count, 2u);
}

TEST(ReadAheadTest, WindowGrowsToTheBoundAndStaysAheadOfTheReader) {
  ReadAhead ra(Options());
  std::set<uint64_t> planned = ReadSequentially(ra, 7, 0, 64 * kMiB);
  // After 16 blocks read, the plan reaches 8 blocks (the bound) beyond the reader.
  EXPECT_EQ(*planned.rbegin(), 16u + 8u - 1u);
  for (uint64_t b = 0; b < 16 + 8; ++b) EXPECT_TRUE(planned.count(b)) << b;
}

TEST(ReadAheadTest, RandomReadsNeverTriggerReadAhead) {
  ReadAhead ra(Options());
  uint64_t x = 12345;
  for (int i = 0; i < 1000; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    uint64_t off = (x >> 20) % (kFile / 4096) * 4096;
    ReadAheadPlan p = ra.OnRead(7, off, 4096, kFile);
    EXPECT_TRUE(p.empty()) << "read " << i << " at " << off << " planned " << p.first << "+"
                           << p.count;
  }
}

TEST(ReadAheadTest, NeverPlansPastTheEndOfTheFile) {
  ReadAhead ra(Options());
  const uint64_t size = 10 * kMiB + 5;  // blocks 0, 1, 2
  std::set<uint64_t> planned = ReadSequentially(ra, 7, 0, size, size);
  EXPECT_EQ(planned, (std::set<uint64_t>{0, 1, 2}));
}

TEST(ReadAheadTest, ReadsArrivingOutOfOrderStillCountAsSequential) {
  ReadAhead ra(Options());
  EXPECT_TRUE(ra.OnRead(7, 0, kMiB, kFile).empty());
  // The client had 2, 1 and 3 in flight; 2 overtook 1.
  EXPECT_TRUE(ra.OnRead(7, 2 * kMiB, kMiB, kFile).empty());
  EXPECT_FALSE(ra.OnRead(7, 1 * kMiB, kMiB, kFile).empty());  // behind: the same stream
  ReadAheadPlan p = ra.OnRead(7, 3 * kMiB, kMiB, kFile);      // into block 1: the window grows
  EXPECT_EQ(p.first, 2u);
  EXPECT_EQ(p.count, 3u);
}

TEST(ReadAheadTest, InterleavedReadersOfOneFileEachGetTheirOwnWindow) {
  ReadAhead ra(Options());
  std::set<uint64_t> a, b;
  for (uint64_t i = 0; i < 32; ++i) {
    for (auto [base, out] : {std::pair{0 * kMiB, &a}, std::pair{512 * kMiB, &b}}) {
      ReadAheadPlan p = ra.OnRead(7, base + i * kMiB, kMiB, kFile);
      for (uint64_t k = p.first; k < p.first + p.count; ++k) out->insert(k);
    }
  }
  EXPECT_TRUE(a.count(8) && a.count(12));     // ahead of reader A (at block 8)
  EXPECT_TRUE(b.count(136) && b.count(140));  // ahead of reader B (at block 136)
  EXPECT_FALSE(a.count(140));
}

TEST(ReadAheadTest, TracksABoundedNumberOfInodes) {
  ReadAhead ra(Options());
  for (vfs::InodeId ino = 1; ino <= 10; ++ino) ra.OnRead(ino, 0, kMiB, kFile);
  EXPECT_EQ(ra.tracked_inodes(), 3u);
  // Inode 1 was forgotten: its sequential READs start over.
  EXPECT_TRUE(ra.OnRead(1, kMiB, kMiB, kFile).empty());
  EXPECT_TRUE(ra.OnRead(1, 2 * kMiB, kMiB, kFile).empty());
  // Inode 10 was kept.
  EXPECT_TRUE(ra.OnRead(10, kMiB, kMiB, kFile).empty());
  EXPECT_FALSE(ra.OnRead(10, 2 * kMiB, kMiB, kFile).empty());
}

TEST(ReadAheadTest, ForgetStartsOver) {
  ReadAhead ra(Options());
  ra.OnRead(7, 0, kMiB, kFile);
  ra.OnRead(7, kMiB, kMiB, kFile);
  ra.Forget(7);
  EXPECT_TRUE(ra.OnRead(7, 2 * kMiB, kMiB, kFile).empty());
  EXPECT_TRUE(ra.OnRead(7, 3 * kMiB, kMiB, kFile).empty());
  EXPECT_FALSE(ra.OnRead(7, 4 * kMiB, kMiB, kFile).empty());
}

TEST(ReadAheadTest, DisabledWithAZeroWindow) {
  ReadAheadOptions o = Options();
  o.max_window_blocks = 0;
  ReadAhead ra(o);
  EXPECT_TRUE(ReadSequentially(ra, 7, 0, 64 * kMiB).empty());
}

}  // namespace
}  // namespace bucketfs::gateway
