#include "gateway/staging.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

namespace bucketfs::gateway {
namespace {

std::string Str(const Bytes& b) { return std::string(b.begin(), b.end()); }
ByteView V(std::string_view s) {
  return ByteView(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

TEST(ExtentSetTest, MergesAndReportsGaps) {
  ExtentSet e;
  e.Add(10, 20);
  e.Add(30, 40);
  e.Add(20, 25);  // adjacent: merged
  EXPECT_EQ(e.ranges().size(), 2u);
  EXPECT_EQ(e.bytes(), 25u);
  auto gaps = e.Gaps(0, 50);
  ASSERT_EQ(gaps.size(), 3u);
  EXPECT_EQ(gaps[0], (std::pair<uint64_t, uint64_t>{0, 10}));
  EXPECT_EQ(gaps[1], (std::pair<uint64_t, uint64_t>{25, 30}));
  EXPECT_EQ(gaps[2], (std::pair<uint64_t, uint64_t>{40, 50}));
  EXPECT_TRUE(e.Intersects(24, 26));
  EXPECT_FALSE(e.Intersects(25, 30));
  e.Add(5, 35);  // swallows both
  EXPECT_EQ(e.ranges().size(), 1u);
  EXPECT_EQ(e.bytes(), 35u);
  e.Clip(12);
  EXPECT_EQ(e.bytes(), 7u);
  EXPECT_TRUE(e.Gaps(5, 12).empty());
}

class StagedFileTest : public ::testing::Test {
 protected:
  StagedFileTest()
      : dir_((std::filesystem::temp_directory_path() /
              ("bfs-staging-" + std::to_string(getpid()) + "-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name()))
                 .string()) {
    std::filesystem::remove_all(dir_);
  }
  ~StagedFileTest() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(StagedFileTest, OverlaysWritesOnTheBaseAndSurvivesRecovery) {
  auto f = StagedFile::Create(dir_, 7, 100, StagedBase{"etag1", 100, 100}, {});
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ASSERT_TRUE((*f)->Write(10, V("hello"), {1, 2}).ok());
  EXPECT_EQ(Str(*(*f)->ReadLocal(10, 5)), "hello");
  auto gaps = (*f)->BaseGaps(0, 100);
  ASSERT_EQ(gaps.size(), 2u);
  EXPECT_EQ(gaps[0], (std::pair<uint64_t, uint64_t>{0, 10}));
  ASSERT_TRUE((*f)->Truncate(50).ok());  // base bytes beyond 50 never show again
  ASSERT_TRUE((*f)->Truncate(80).ok());
  EXPECT_EQ((*f)->BaseGaps(0, 100).back().second, 50u);
  ASSERT_TRUE((*f)->Sync().ok());
  auto r = StagedFile::Recover(dir_, 7);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  StagedState st = (*r)->State();
  EXPECT_EQ(st.size, 80u);
  EXPECT_EQ(st.base.etag, "etag1");
  EXPECT_EQ(st.base.limit, 50u);
  EXPECT_EQ(st.dirty.bytes(), 5u);
  EXPECT_EQ(Str(*(*r)->ReadLocal(10, 5)), "hello");
  ASSERT_TRUE(st.meta.mtime.has_value());
  EXPECT_EQ(st.meta.mtime->sec, 1);
}

TEST_F(StagedFileTest, DamagedOrMissingStateIsAnError) {
  EXPECT_EQ(StagedFile::Recover(dir_, 9).status().code(), ErrorCode::kNotFound);
  auto f = StagedFile::Create(dir_, 9, 0, {}, {});
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Sync().ok());
  {
    FILE* out = std::fopen((dir_ + "/9.state").c_str(), "w");
    std::fputs("bucketfs-staged 1\nsize 3\n", out);  // no "end": torn
    std::fclose(out);
  }
  EXPECT_EQ(StagedFile::Recover(dir_, 9).status().code(), ErrorCode::kIo);
}

TEST_F(StagedFileTest, UploadedOnlyWhenUnchanged) {
  auto f = StagedFile::Create(dir_, 3, 0, {}, {});
  ASSERT_TRUE((*f)->Write(0, V("abc"), {}).ok());
  StagedState snap = (*f)->SnapshotForUpload();
  ASSERT_TRUE((*f)->Write(3, V("d"), {}).ok());
  EXPECT_FALSE((*f)->MarkUploaded(snap.version, "e1"));
  (*f)->Rebase(snap, "e1");
  EXPECT_EQ((*f)->State().base.etag, "e1");
  EXPECT_EQ((*f)->State().base.limit, 3u);
  StagedState snap2 = (*f)->SnapshotForUpload();
  EXPECT_TRUE((*f)->MarkUploaded(snap2.version, "e2"));
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/3.data"));  // until the upload is recorded
  (*f)->RemoveFiles();
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/3.data"));
  EXPECT_EQ((*f)->Write(0, V("x"), {}).code(), ErrorCode::kStale);
}

TEST_F(StagedFileTest, KeepStagingMovesOnlyTheNamedInodesAndDescribesThem) {
  auto a = StagedFile::Create(dir_, 4, 0, {}, {});
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE((*a)->Write(0, V("new file"), {5, 0}).ok());
  ASSERT_TRUE((*a)->Sync().ok());
  auto b = StagedFile::Create(dir_, 5, 20, StagedBase{"e5", 20, 20}, {});
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE((*b)->Write(4, V("zz"), {6, 0}).ok());
  ASSERT_TRUE((*b)->Sync().ok());
  ASSERT_TRUE(StagedFile::Create(dir_, 6, 0, {}, {}).ok());  // never synced: no state file
  ASSERT_TRUE(StagedFile::Create(dir_, 8, 0, {}, {}).ok());  // not named below: stays
  EXPECT_EQ(OrphanStagingInodes(dir_, {8}), (std::vector<uint64_t>{4, 5, 6}));

  const std::string into = dir_ + "/lost+found";
  auto kept = KeepStaging(dir_, {4, 5, 6}, into, "a test said so");
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  EXPECT_EQ(kept->inodes, 3u);
  EXPECT_EQ(std::filesystem::path(kept->dir).parent_path(), std::filesystem::path(into));
  EXPECT_EQ(OrphanStagingInodes(dir_, {}), (std::vector<uint64_t>{8}));
  for (const char* name : {"4.data", "4.state", "5.data", "5.state", "6.data"}) {
    EXPECT_TRUE(std::filesystem::exists(kept->dir + "/" + name)) << name;
  }
  std::ifstream in(kept->dir + "/KEPT.txt");
  std::string note((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(note.find("a test said so"), std::string::npos) << note;
  EXPECT_NE(note.find("inode 4: size 8"), std::string::npos) << note;
  EXPECT_NE(note.find("4.data is the whole file"), std::string::npos) << note;
  EXPECT_NE(note.find("ETag \"e5\" (20 bytes)"), std::string::npos) << note;
  EXPECT_NE(note.find("[4,6) are new"), std::string::npos) << note;
  EXPECT_NE(note.find("inode 6: no state file: never COMMITted"), std::string::npos) << note;
  // The recovery state can still be read where it went.
  auto st = ReadStagedState(kept->dir + "/5.state");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->base.etag, "e5");

  // Another start in the same second gets a directory of its own.
  auto c = StagedFile::Create(dir_, 9, 0, {}, {});
  ASSERT_TRUE(c.ok());
  auto again = KeepStaging(dir_, {9}, into, "again");
  ASSERT_TRUE(again.ok());
  EXPECT_NE(again->dir, kept->dir);
  EXPECT_TRUE(std::filesystem::exists(kept->dir + "/4.data"));
  // Nothing to keep: nothing is created.
  auto none = KeepStaging(dir_, {77}, into, "nothing");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->inodes, 0u);
  EXPECT_TRUE(none->dir.empty());
}

}  // namespace
}  // namespace bucketfs::gateway
