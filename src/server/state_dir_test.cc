#include "server/state_dir.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace bucketfs::server {
namespace {

namespace fs = std::filesystem;

class StateDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() / ("bfs-state-" + std::to_string(getpid()))).string();
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string dir_;
};

TEST_F(StateDirTest, KeyIsMintedOnceAndKept) {
  std::array<uint8_t, StateDir::kKeySize> first;
  {
    auto d = StateDir::Open(dir_ + "/s");
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    first = (*d)->handle_key();
    EXPECT_EQ(fs::status(dir_ + "/s/handle.key").permissions() & fs::perms::all,
              fs::perms::owner_read | fs::perms::owner_write);
  }
  auto d = StateDir::Open(dir_ + "/s");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ((*d)->handle_key(), first);
  EXPECT_NE(first, (std::array<uint8_t, StateDir::kKeySize>{}));
}

TEST_F(StateDirTest, SecondGatewayOnTheSameDirectoryIsRefused) {
  auto a = StateDir::Open(dir_);
  ASSERT_TRUE(a.ok());
  auto b = StateDir::Open(dir_);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("in use by another running bucketfs"), std::string::npos);
  a->reset();
  EXPECT_TRUE(StateDir::Open(dir_).ok());  // released with the first
}

TEST_F(StateDirTest, DamagedKeyIsAClearError) {
  fs::create_directories(dir_);
  std::ofstream(dir_ + "/handle.key") << "short";
  auto d = StateDir::Open(dir_);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("is damaged"), std::string::npos);
}

TEST(ExportIdTest, StableNonZeroAndDistinct) {
  EXPECT_EQ(ExportIdFor("data"), ExportIdFor("data"));
  EXPECT_NE(ExportIdFor("data"), ExportIdFor("models"));
  EXPECT_NE(ExportIdFor(""), 0u);
}

}  // namespace
}  // namespace bucketfs::server
