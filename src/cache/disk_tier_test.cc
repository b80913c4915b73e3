#include "cache/disk_tier.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace bucketfs::cache {
namespace {

namespace fs = std::filesystem;

class DiskTierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("bfs-disk-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<DiskTier> Open(uint64_t capacity = 1 << 20) {
    DiskTierOptions o;
    o.dir = dir_.string();
    o.capacity_bytes = capacity;
    auto t = DiskTier::Open(o);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? std::move(t).value() : nullptr;
  }
  std::string PathOf(const BlockKey& k) {
    std::string n = k.FileName();
    return (dir_ / n.substr(0, 2) / (n + ".blk")).string();
  }

  fs::path dir_;
};

BlockKey Key(uint64_t index, std::string version = "etag1") {
  return BlockKey{"bucket", "dir/object.bin", std::move(version), index};
}
Bytes Data(std::size_t n, uint8_t seed) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(seed + i * 7);
  return b;
}

TEST_F(DiskTierTest, WrittenBlocksAreReadBackAndSurviveAReopen) {
  {
    auto t = Open();
    ASSERT_TRUE(t->Write(Key(0), Data(5000, 1)).ok());
    ASSERT_TRUE(t->Write(Key(1), Data(10, 2)).ok());
    auto r = t->Read(Key(0));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, Data(5000, 1));
  }
  auto t = Open();
  EXPECT_EQ(t->Stats().files, 2u);
  auto r = t->Read(Key(1));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, Data(10, 2));
  EXPECT_EQ(t->Read(Key(2)).status().code(), ErrorCode::kNotFound);
}

TEST_F(DiskTierTest, AnotherVersionIsAnotherBlock) {
  auto t = Open();
  ASSERT_TRUE(t->Write(Key(0, "old"), Data(100, 1)).ok());
  EXPECT_EQ(t->Read(Key(0, "new")).status().code(), ErrorCode::kNotFound);
}

TEST_F(DiskTierTest, FlippedByteIsDetectedRemovedAndNeverServed) {
  auto t = Open();
  ASSERT_TRUE(t->Write(Key(0), Data(4096, 3)).ok());
  {
    std::fstream f(PathOf(Key(0)), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-100, std::ios::end);
    f.put('\xff');
  }
  auto r = t->Read(Key(0));
  EXPECT_EQ(r.status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(t->Stats().corrupt, 1u);
  EXPECT_FALSE(fs::exists(PathOf(Key(0))));
  EXPECT_FALSE(t->Contains(Key(0).Encode()));
}

TEST_F(DiskTierTest, TruncatedAndForeignFilesAreRemovedAtOpen) {
  {
    auto t = Open();
    ASSERT_TRUE(t->Write(Key(0), Data(4096, 3)).ok());
    ASSERT_TRUE(t->Write(Key(1), Data(4096, 4)).ok());
  }
  fs::resize_file(PathOf(Key(0)), 1000);
  // A valid file under the wrong name: its key does not hash to the name.
  fs::copy_file(PathOf(Key(1)),
                fs::path(PathOf(Key(1))).parent_path() / "00000000000000000000000000000000.blk");
  { std::ofstream(dir_ / "tmp" / "half.tmp") << "partial"; }
  auto t = Open();
  EXPECT_EQ(t->Stats().files, 1u);
  EXPECT_EQ(t->Stats().corrupt, 2u);
  EXPECT_TRUE(fs::is_empty(dir_ / "tmp"));
  EXPECT_TRUE(t->Read(Key(1)).ok());
}

TEST_F(DiskTierTest, StaysWithinItsCapacity) {
  auto t = Open(/*capacity=*/10 * 1100);
  for (uint64_t i = 0; i < 50; ++i) ASSERT_TRUE(t->Write(Key(i), Data(1000, 5)).ok());
  DiskTierStats s = t->Stats();
  EXPECT_LE(s.bytes, 10u * 1100u);
  EXPECT_GE(s.evictions, 40u);
  uint64_t files = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir_)) {
    files += e.is_regular_file() && e.path().extension() == ".blk";
  }
  EXPECT_EQ(files, s.files);
}

TEST_F(DiskTierTest, UnwritableDirectoryIsAClearError) {
  fs::create_directories(dir_);
  { std::ofstream(dir_ / "file") << "x"; }
  DiskTierOptions o;
  o.dir = (dir_ / "file" / "cache").string();
  o.capacity_bytes = 1000;
  auto t = DiskTier::Open(o);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("cache directory"), std::string::npos);
}

TEST_F(DiskTierTest, AnUntaggedDirectoryWithOtherFilesIsRefusedAndLeftAlone) {
  fs::create_directories(dir_ / "ab");  // looks like a fan-out directory, but its file does not
  { std::ofstream(dir_ / "ab" / "thesis.tex") << "precious"; }
  DiskTierOptions o;
  o.dir = dir_.string();
  o.capacity_bytes = 1 << 20;
  auto t = DiskTier::Open(o);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("not a bucketfs cache"), std::string::npos);
  EXPECT_TRUE(fs::exists(dir_ / "ab" / "thesis.tex"));
  EXPECT_FALSE(fs::exists(dir_ / DiskTier::kTagFile));
}

TEST_F(DiskTierTest, AnUntaggedCacheLayoutIsAdoptedAndTagged) {
  {
    auto t = Open();
    ASSERT_TRUE(t->Write(Key(0), Data(100, 1)).ok());
  }
  fs::remove(dir_ / DiskTier::kTagFile);  // a cache made before the tag existed
  auto t = Open();
  EXPECT_TRUE(fs::exists(dir_ / DiskTier::kTagFile));
  EXPECT_TRUE(t->Read(Key(0)).ok());
}

TEST_F(DiskTierTest, AnotherKeysFileUnderTheRightNameIsNeverServed) {
  auto t = Open();
  ASSERT_TRUE(t->Write(Key(0), Data(100, 1)).ok());
  ASSERT_TRUE(t->Write(Key(1), Data(100, 2)).ok());
  // After Open, so the name check of the scan does not see it: the key check of Read must.
  fs::copy_file(PathOf(Key(1)), PathOf(Key(0)), fs::copy_options::overwrite_existing);
  EXPECT_EQ(t->Read(Key(0)).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(t->Stats().corrupt, 1u);
  auto other = t->Read(Key(1));
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(*other, Data(100, 2));
}

TEST_F(DiskTierTest, TruncationAfterOpenIsCaughtOnRead) {
  auto t = Open();
  ASSERT_TRUE(t->Write(Key(0), Data(4096, 3)).ok());
  fs::resize_file(PathOf(Key(0)), fs::file_size(PathOf(Key(0))) - 1);
  EXPECT_EQ(t->Read(Key(0)).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(t->Stats().corrupt, 1u);
  EXPECT_FALSE(fs::exists(PathOf(Key(0))));
}

TEST_F(DiskTierTest, AFileRemovedBehindItsBackIsAMissNotDamage) {
  auto t = Open();
  ASSERT_TRUE(t->Write(Key(0), Data(10, 3)).ok());
  fs::remove(PathOf(Key(0)));
  EXPECT_EQ(t->Read(Key(0)).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(t->Stats().corrupt, 0u);
  EXPECT_FALSE(t->Contains(Key(0).Encode()));
}

TEST_F(DiskTierTest, ABlockSizeChangeDiscardsTheOldFiles) {
  {
    auto t = Open();
    ASSERT_TRUE(t->Write(Key(0), Data(100, 1)).ok());
  }
  DiskTierOptions o;
  o.dir = dir_.string();
  o.capacity_bytes = 1 << 20;
  o.block_size = 1 << 20;
  auto t = DiskTier::Open(o);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ((*t)->Stats().files, 0u);
  EXPECT_EQ((*t)->Stats().discarded, 1u);
  EXPECT_EQ((*t)->Stats().corrupt, 0u);
  EXPECT_FALSE(fs::exists(PathOf(Key(0))));
}

TEST_F(DiskTierTest, EraseWithPrefixRemovesOneObject) {
  auto t = Open();
  ASSERT_TRUE(t->Write(Key(0, "a"), Data(10, 1)).ok());
  ASSERT_TRUE(t->Write(Key(1, "b"), Data(10, 1)).ok());
  BlockKey other{"bucket", "dir/object.bin2", "a", 0};  // a longer key with the same start
  ASSERT_TRUE(t->Write(other, Data(10, 1)).ok());
  EXPECT_EQ(t->EraseWithPrefix(EncodedObjectPrefix("bucket", "dir/object.bin")), 2u);
  EXPECT_EQ(t->Stats().files, 1u);
  EXPECT_TRUE(t->Read(other).ok());
  EXPECT_FALSE(fs::exists(PathOf(Key(0, "a"))));
}

TEST_F(DiskTierTest, ABlockLargerThanTheBlockSizeIsRefused) {
  DiskTierOptions o;
  o.dir = dir_.string();
  o.capacity_bytes = 1 << 20;
  o.block_size = 64;
  auto t = DiskTier::Open(o);
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE((*t)->Write(Key(0), Data(65, 1)).ok());
  EXPECT_TRUE((*t)->Write(Key(0), Data(64, 1)).ok());
}

}  // namespace
}  // namespace bucketfs::cache
