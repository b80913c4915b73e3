// MemoryFs against the vfs mutation contract (vfs.h): the nfs tests rely on it behaving like the
// gateway should.
#include "nfs/testing/memory_fs.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <optional>

namespace bucketfs::nfs::testing {
namespace {

class MemoryFsTest : public ::testing::Test {
 protected:
  MemoryFsTest() : fs_(/*read_only=*/false) {
    fs_.SetClock([this] { return now_; });
    dir_ = fs_.AddDir(1, "dir");
    file_ = fs_.AddFile(1, "file", "0123456789");
  }

  template <typename T>
  T Await(Awaitable<T> aw) {
    std::optional<T> out;
    asio::co_spawn(
        io_, [&]() -> Awaitable<void> { out.emplace(co_await std::move(aw)); }, asio::detached);
    io_.restart();
    io_.run();
    return std::move(*out);
  }
  void Await(Awaitable<void> aw) {
    asio::co_spawn(io_, std::move(aw), asio::detached);
    io_.restart();
    io_.run();
  }
  vfs::Attr Get(vfs::InodeId ino) { return *Await(fs_.GetAttr(ino)); }
  Result<vfs::Attr> Find(vfs::InodeId dir, const std::string& name) {
    return Await(fs_.Lookup(dir, name));
  }
  vfs::InodeId MakeFile(vfs::InodeId dir, const std::string& name) {
    return Await(fs_.Create(dir, name, vfs::CreateRequest{}))->ino;
  }
  vfs::InodeId MakeDir(vfs::InodeId dir, const std::string& name) {
    vfs::CreateRequest req;
    req.type = vfs::FileType::kDirectory;
    return Await(fs_.Create(dir, name, req))->ino;
  }
  ErrorCode RenameCode(vfs::InodeId sd, const std::string& sn, vfs::InodeId dd,
                       const std::string& dn) {
    return Await(fs_.Rename(sd, sn, dd, dn)).code();
  }

  asio::io_context io_;
  vfs::Timespec now_{1800000000, 0};
  MemoryFs fs_;
  vfs::InodeId dir_ = 0, file_ = 0;
};

TEST_F(MemoryFsTest, ReadOnlyAnswersEveryMutationWithReadOnly) {
  MemoryFs ro;
  const vfs::InodeId f = ro.AddFile(1, "f", "x");
  EXPECT_TRUE(ro.ReadOnly());
  EXPECT_EQ(Await(ro.SetAttr(f, vfs::SetAttrRequest{})).status().code(), ErrorCode::kReadOnly);
  EXPECT_EQ(Await(ro.Create(1, "n", vfs::CreateRequest{})).status().code(), ErrorCode::kReadOnly);
  EXPECT_EQ(Await(ro.Write(f, 0, Bytes{1}, vfs::StableHow::kFileSync)).status().code(),
            ErrorCode::kReadOnly);
  EXPECT_EQ(Await(ro.Commit(f, 0, 0)).code(), ErrorCode::kReadOnly);
  EXPECT_EQ(Await(ro.Remove(1, "f")).code(), ErrorCode::kReadOnly);
  EXPECT_EQ(Await(ro.Rename(1, "f", 1, "g")).code(), ErrorCode::kReadOnly);
  EXPECT_EQ(Await(ro.Link(f, 1, "g")).status().code(), ErrorCode::kReadOnly);
  EXPECT_EQ(Await(ro.CopyRange(f, 0, f, 1, 1)).status().code(), ErrorCode::kReadOnly);
  EXPECT_EQ(Await(ro.Deallocate(f, 0, 1)).code(), ErrorCode::kReadOnly);
}

TEST_F(MemoryFsTest, CreateSetsAttributesAndMovesTheDirectory) {
  const vfs::Attr before = Get(1);
  now_.sec += 5;
  vfs::CreateRequest req;
  req.attrs.mode = 0600;
  req.attrs.uid = 7;
  req.attrs.gid = 8;
  req.attrs.mtime = vfs::Timespec{100, 1};
  auto a = Await(fs_.Create(1, "n", req));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->mode, 0600u);
  EXPECT_EQ(a->uid, 7u);
  EXPECT_EQ(a->gid, 8u);
  EXPECT_EQ(a->mtime, (vfs::Timespec{100, 1}));
  EXPECT_EQ(a->ctime, now_);
  EXPECT_EQ(a->nlink, 1u);
  const vfs::Attr after = Get(1);
  EXPECT_GT(after.change, before.change);
  EXPECT_EQ(after.mtime, now_);
  EXPECT_EQ(Await(fs_.Create(1, "n", req)).status().code(), ErrorCode::kExists);
  EXPECT_EQ(Await(fs_.Create(file_, "x", req)).status().code(), ErrorCode::kNotDir);
  // Directories count their subdirectories in nlink.
  const uint32_t links = Get(1).nlink;
  const vfs::InodeId sub = MakeDir(1, "sub");
  EXPECT_EQ(Get(sub).nlink, 2u);
  EXPECT_EQ(Get(1).nlink, links + 1);
  EXPECT_EQ(Await(fs_.Parent(sub))->ino, 1u);
}

TEST_F(MemoryFsTest, ExclusiveCreateVerifier) {
  vfs::CreateRequest req;
  req.verifier = 42;
  auto first = Await(fs_.Create(1, "x", req));
  ASSERT_TRUE(first.ok());
  auto again = Await(fs_.Create(1, "x", req));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->ino, first->ino);
  req.verifier = 43;
  EXPECT_EQ(Await(fs_.Create(1, "x", req)).status().code(), ErrorCode::kExists);
  req.verifier.reset();
  EXPECT_EQ(Await(fs_.Create(1, "x", req)).status().code(), ErrorCode::kExists);
  req.verifier = 42;
  EXPECT_EQ(Await(fs_.Create(1, "file", req)).status().code(), ErrorCode::kExists);
}

TEST_F(MemoryFsTest, WriteReadSetAttrAndBounds) {
  const uint64_t change = Get(file_).change;
  now_.sec += 1;
  auto w = Await(fs_.Write(file_, 12, Bytes{'a', 'b'}, vfs::StableHow::kUnstable));
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->count, 2u);
  EXPECT_EQ(w->committed, vfs::StableHow::kUnstable);
  EXPECT_EQ(*fs_.Contents(file_), std::string("0123456789\0\0ab", 14));
  EXPECT_GT(Get(file_).change, change);
  EXPECT_EQ(Get(file_).mtime, now_);
  EXPECT_EQ(Await(fs_.Write(file_, 0, Bytes{'X'}, vfs::StableHow::kDataSync))->committed,
            vfs::StableHow::kFileSync);
  EXPECT_EQ(Await(fs_.Write(dir_, 0, Bytes{'X'}, vfs::StableHow::kDataSync)).status().code(),
            ErrorCode::kIsDir);
  fs_.SetMaxFileSize(100);
  EXPECT_EQ(Await(fs_.Write(file_, 100, Bytes{'X'}, vfs::StableHow::kDataSync)).status().code(),
            ErrorCode::kTooBig);
  vfs::SetAttrRequest big;
  big.size = 101;
  EXPECT_EQ(Await(fs_.SetAttr(file_, big)).status().code(), ErrorCode::kTooBig);
  vfs::SetAttrRequest trunc;
  trunc.size = 3;
  trunc.mode = 0700;
  EXPECT_EQ(Await(fs_.SetAttr(file_, trunc))->size, 3u);
  EXPECT_EQ(Get(file_).mode, 0700u);
  EXPECT_EQ(*fs_.Contents(file_), "X12");
  EXPECT_EQ(Await(fs_.SetAttr(dir_, trunc)).status().code(), ErrorCode::kIsDir);
  const vfs::InodeId link = fs_.AddSymlink(1, "l", "t");
  EXPECT_EQ(Await(fs_.SetAttr(link, trunc)).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(Await(fs_.Commit(file_, 0, 0)).ok());
  EXPECT_EQ(fs_.commit_count(file_), 1);
  fs_.SetWriteVerifier(99);
  EXPECT_EQ(fs_.WriteVerifier(), 99u);
}

TEST_F(MemoryFsTest, RemoveAndNotEmpty) {
  MakeFile(dir_, "inner");
  EXPECT_EQ(Await(fs_.Remove(1, "dir")).code(), ErrorCode::kNotEmpty);
  EXPECT_EQ(Await(fs_.Remove(1, "missing")).code(), ErrorCode::kNotFound);
  EXPECT_TRUE(Await(fs_.Remove(dir_, "inner")).ok());
  const uint32_t links = Get(1).nlink;
  EXPECT_TRUE(Await(fs_.Remove(1, "dir")).ok());
  EXPECT_EQ(Get(1).nlink, links - 1);
  EXPECT_EQ(Await(fs_.GetAttr(dir_)).status().code(), ErrorCode::kStale);
}

TEST_F(MemoryFsTest, HardLinksCountNames) {
  auto l = Await(fs_.Link(file_, dir_, "again"));
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->nlink, 2u);
  EXPECT_EQ(Await(fs_.Link(file_, dir_, "again")).status().code(), ErrorCode::kExists);
  EXPECT_EQ(Await(fs_.Link(dir_, 1, "d2")).status().code(), ErrorCode::kIsDir);
  EXPECT_TRUE(Await(fs_.Remove(1, "file")).ok());
  EXPECT_EQ(Get(file_).nlink, 1u);
  EXPECT_EQ(*fs_.Contents(file_), "0123456789");
  EXPECT_TRUE(Await(fs_.Remove(dir_, "again")).ok());
  EXPECT_FALSE(fs_.Contents(file_).has_value());
}

TEST_F(MemoryFsTest, RenameSemantics) {
  // A file replaces a file; the replaced inode goes away.
  const vfs::InodeId other = MakeFile(1, "other");
  EXPECT_EQ(RenameCode(1, "file", 1, "other"), ErrorCode::kOk);
  EXPECT_EQ(Find(1, "other")->ino, file_);
  EXPECT_FALSE(Find(1, "file").ok());
  EXPECT_EQ(Await(fs_.GetAttr(other)).status().code(), ErrorCode::kStale);
  // Directories: replace an empty one, not a full one, not a file; no file over a directory.
  const vfs::InodeId empty = MakeDir(1, "empty");
  MakeFile(dir_, "x");
  const vfs::InodeId moving = MakeDir(1, "moving");
  EXPECT_EQ(RenameCode(1, "moving", 1, "dir"), ErrorCode::kNotEmpty);
  EXPECT_EQ(RenameCode(1, "moving", 1, "other"), ErrorCode::kNotDir);
  EXPECT_EQ(RenameCode(1, "other", 1, "empty"), ErrorCode::kIsDir);
  const uint32_t links = Get(1).nlink;
  EXPECT_EQ(RenameCode(1, "moving", 1, "empty"), ErrorCode::kOk);
  EXPECT_EQ(Find(1, "empty")->ino, moving);
  EXPECT_EQ(Await(fs_.GetAttr(empty)).status().code(), ErrorCode::kStale);
  EXPECT_EQ(Get(1).nlink, links - 1);
  // Across directories: parent and link counts follow.
  const uint64_t dir_change = Get(dir_).change;
  EXPECT_EQ(RenameCode(1, "empty", dir_, "sub"), ErrorCode::kOk);
  EXPECT_EQ(Await(fs_.Parent(moving))->ino, dir_);
  EXPECT_EQ(Get(dir_).nlink, 3u);
  EXPECT_GT(Get(dir_).change, dir_change);
  // Into its own subtree.
  EXPECT_EQ(RenameCode(1, "dir", moving, "loop"), ErrorCode::kInvalidArgument);
  EXPECT_EQ(RenameCode(1, "dir", dir_, "self"), ErrorCode::kInvalidArgument);
  // Same name, two links to one file: nothing happens.
  EXPECT_EQ(RenameCode(1, "other", 1, "other"), ErrorCode::kOk);
  ASSERT_TRUE(Await(fs_.Link(file_, 1, "alias")).ok());
  EXPECT_EQ(RenameCode(1, "other", 1, "alias"), ErrorCode::kOk);
  EXPECT_TRUE(Find(1, "other").ok());
  EXPECT_EQ(RenameCode(1, "missing", 1, "x"), ErrorCode::kNotFound);
}

TEST_F(MemoryFsTest, ReadDirCookiesSurviveChanges) {
  for (const char* n : {"a", "b", "c"}) MakeFile(dir_, n);
  auto page = Await(fs_.ReadDir(dir_, 0, 2));
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->entries.size(), 2u);
  EXPECT_FALSE(page->eof);
  const uint64_t cookie = page->entries.back().cookie;
  ASSERT_TRUE(Await(fs_.Remove(dir_, "a")).ok());
  MakeFile(dir_, "d");
  auto rest = Await(fs_.ReadDir(dir_, cookie, 10));
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->entries.size(), 2u);
  EXPECT_EQ(rest->entries[0].name, "c");
  EXPECT_EQ(rest->entries[1].name, "d");
  EXPECT_TRUE(rest->eof);
}

TEST_F(MemoryFsTest, CopyRangeAndDeallocate) {
  const vfs::InodeId dst = MakeFile(1, "dst");
  EXPECT_EQ(*Await(fs_.CopyRange(file_, 2, dst, 1, 3)), 3u);
  EXPECT_EQ(*fs_.Contents(dst), std::string("\0"
                                            "234",
                                            4));
  EXPECT_EQ(*Await(fs_.CopyRange(file_, 8, dst, 0, 0)), 2u);  // 0: to the source's end
  EXPECT_EQ(*Await(fs_.CopyRange(file_, 20, dst, 0, 5)), 0u);
  EXPECT_EQ(*Await(fs_.CopyRange(file_, 0, file_, 5, 5)), 5u);  // within one file
  EXPECT_EQ(*fs_.Contents(file_), "0123401234");
  EXPECT_EQ(Await(fs_.CopyRange(dir_, 0, dst, 0, 1)).status().code(), ErrorCode::kIsDir);
  EXPECT_TRUE(Await(fs_.Deallocate(file_, 8, 100)).ok());
  EXPECT_EQ(*fs_.Contents(file_), std::string("01234012\0\0", 10));
  EXPECT_EQ(Get(file_).size, 10u);
}

TEST_F(MemoryFsTest, ClosedIsCounted) {
  Await(fs_.Closed(file_));
  Await(fs_.Closed(12345));  // unknown inode: ignored
  EXPECT_EQ(fs_.closed_count(file_), 1);
}

}  // namespace
}  // namespace bucketfs::nfs::testing
