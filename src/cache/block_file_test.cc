// The block file format and its checksum.
#include "cache/block_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <random>

#include "cache/block_key.h"
#include "cache/crc32c.h"

namespace bucketfs::cache {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kBlockSize = 4096;

class BlockFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = fs::temp_directory_path() /
            ("bfs-blockfile-" + std::to_string(getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  void TearDown() override { fs::remove(path_); }

  void WriteFile(const std::string& bytes) {
    Fd fd(::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    ASSERT_TRUE(fd.ok());
    ASSERT_TRUE(WriteAll(fd.get(), bytes.data(), bytes.size()));
  }
  std::string Encode(const std::string& id, const Bytes& data, uint64_t block_size = kBlockSize) {
    return EncodeBlockFileHead(id, data, block_size) + std::string(AsString(data));
  }
  FileCheck Read(const std::string& id, Bytes* out, uint64_t block_size = kBlockSize) {
    Fd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
    return ReadBlockFile(fd.get(), id, block_size, out);
  }

  fs::path path_;
  const std::string id_ = BlockKey{"b", "k", "etag", 3}.Encode();
  const Bytes data_ = Bytes(1000, 0x5a);
};

TEST_F(BlockFileTest, RoundTrip) {
  WriteFile(Encode(id_, data_));
  Bytes out;
  EXPECT_EQ(Read(id_, &out), FileCheck::kGood);
  EXPECT_EQ(out, data_);
}

TEST_F(BlockFileTest, EveryFlippedBitIsCaught) {
  const std::string good = Encode(id_, Bytes(64, 0x11));
  for (std::size_t byte = 0; byte < good.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = good;
      bad[byte] = static_cast<char>(bad[byte] ^ (1 << bit));
      WriteFile(bad);
      Bytes out;
      EXPECT_NE(Read(id_, &out), FileCheck::kGood) << "byte " << byte << " bit " << bit;
    }
  }
}

TEST_F(BlockFileTest, AHugeLengthInTheHeaderIsDamageNotAnAllocation) {
  std::string bytes = Encode(id_, data_);
  const uint64_t huge = 1ull << 40;
  std::memcpy(bytes.data() + 16, &huge, 8);  // data length (little-endian host)
  WriteFile(bytes);
  Bytes out;
  EXPECT_EQ(Read(id_, &out), FileCheck::kDamaged);
  EXPECT_LE(out.capacity(), kBlockSize);
}

TEST_F(BlockFileTest, AnotherBlockSizeOrTheOldFormatIsForeign) {
  WriteFile(Encode(id_, data_, kBlockSize * 2));
  Bytes out;
  EXPECT_EQ(Read(id_, &out), FileCheck::kForeign);
  std::string v1 = Encode(id_, data_);
  std::memcpy(v1.data(), "BFSBLK1\n", 8);
  WriteFile(v1);
  EXPECT_EQ(Read(id_, &out), FileCheck::kForeign);
}

TEST_F(BlockFileTest, TheWrongKeyIsDamage) {
  WriteFile(Encode(id_, data_));
  Bytes out;
  EXPECT_EQ(Read(BlockKey{"b", "k", "etag", 4}.Encode(), &out), FileCheck::kDamaged);
}

TEST_F(BlockFileTest, HeadAloneIsReadForTheScan) {
  WriteFile(Encode(id_, data_));
  Fd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
  std::string id;
  EXPECT_EQ(ReadBlockFileHead(fd.get(), fs::file_size(path_), kBlockSize, &id), FileCheck::kGood);
  EXPECT_EQ(id, id_);
  EXPECT_EQ(ReadBlockFileHead(fd.get(), fs::file_size(path_) + 1, kBlockSize, &id),
            FileCheck::kDamaged);
}

TEST(BlockKeyTest, EncodingIsStableAndUnambiguous) {
  BlockKey k{"b", "k", "e", 1};
  EXPECT_EQ(k.Encode(), std::string("\x01\0\0\0b\x01\0\0\0k\x01\0\0\0e\x01\0\0\0\0\0\0\0", 23));
  // Field boundaries matter: ("ab","c") and ("a","bc") differ.
  EXPECT_NE((BlockKey{"ab", "c", "e", 0}.Encode()), (BlockKey{"a", "bc", "e", 0}.Encode()));
  EXPECT_EQ(k.FileName().size(), 32u);
  EXPECT_EQ(k.FileName(), BlockKey(k).FileName());
  EXPECT_NE(k.FileName(), (BlockKey{"b", "k", "e", 2}.FileName()));
  EXPECT_EQ(k.Hash(), (BlockKey{"b", "k", "e", 1}.Hash()));
  EXPECT_NE(k.Hash(), (BlockKey{"b", "k", "f", 1}.Hash()));
  EXPECT_EQ(k.ToString(), "b/k@e#1");
  EXPECT_TRUE(k.Encode().starts_with(EncodedObjectPrefix("b", "k")));
}

TEST(Crc32cTest, KnownValueAndContinuation) {
  const std::string s = "123456789";
  EXPECT_EQ(Crc32c(s.data(), s.size()), 0xE3069283u);  // the CRC-32C check value
  uint32_t part = Crc32c(s.data(), 4);
  EXPECT_EQ(Crc32c(s.data() + 4, 5, part), 0xE3069283u);
  EXPECT_EQ(Crc32cPortable(s.data(), s.size()), 0xE3069283u);
}

TEST(Crc32cTest, HardwareAndPortableAgree) {
  std::mt19937 rng(7);
  Bytes buf(4096 + 16);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  for (std::size_t off = 0; off < 8; ++off) {
    for (std::size_t len : {0u, 1u, 7u, 8u, 9u, 63u, 1000u, 4096u}) {
      EXPECT_EQ(Crc32c(buf.data() + off, len), Crc32cPortable(buf.data() + off, len))
          << off << "+" << len;
    }
  }
}

}  // namespace
}  // namespace bucketfs::cache
