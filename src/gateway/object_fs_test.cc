#include "gateway/object_fs.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "gateway/testing/fake_object_store.h"
#include "meta/sqlite_meta_store.h"

namespace bucketfs::gateway {
namespace {

using testing::FakeObjectStore;
using Op = FakeObjectStore::Op;
using namespace std::chrono_literals;

std::string Str(const Bytes& b) { return std::string(b.begin(), b.end()); }

class ObjectFsTest : public ::testing::Test {
 protected:
  ObjectFsTest() : store_(std::make_shared<FakeObjectStore>()) {}

  std::unique_ptr<ObjectFileSystem> MakeFs(ObjectFsOptions options = {}) {
    options.clock = [this] { return SteadyTime(std::chrono::nanoseconds(now_ns_.load())); };
    return std::make_unique<ObjectFileSystem>(store_, std::move(options));
  }

  void Advance(std::chrono::nanoseconds d) { now_ns_ += d.count(); }

  // Runs one coroutine to completion on io_.
  template <typename T>
  T Run(Awaitable<T> aw) {
    std::optional<T> out;
    asio::co_spawn(
        io_, [&]() -> Awaitable<void> { out.emplace(co_await std::move(aw)); }, asio::detached);
    io_.restart();
    io_.run();
    return std::move(*out);
  }

  // Looks up a slash-separated path from the root.
  Result<vfs::Attr> Path(vfs::FileSystem& fs, const std::string& path) {
    Result<vfs::Attr> cur = Run(fs.GetAttr(fs.RootInode()));
    std::size_t start = 0;
    while (cur.ok() && start < path.size()) {
      std::size_t slash = path.find('/', start);
      if (slash == std::string::npos) slash = path.size();
      cur = Run(fs.Lookup(cur->ino, path.substr(start, slash - start)));
      start = slash + 1;
    }
    return cur;
  }

  std::vector<std::string> ReadAllNames(vfs::FileSystem& fs, vfs::InodeId dir) {
    std::vector<std::string> names;
    uint64_t cookie = 0;
    for (;;) {
      auto page = Run(fs.ReadDir(dir, cookie, 100));
      EXPECT_TRUE(page.ok()) << page.status().ToString();
      if (!page.ok()) break;
      for (const auto& e : page->entries) {
        names.push_back(e.name);
        cookie = e.cookie;
      }
      if (page->eof) break;
    }
    return names;
  }

  asio::io_context io_;
  std::shared_ptr<FakeObjectStore> store_;
  std::atomic<int64_t> now_ns_{int64_t{3600} * 1'000'000'000};
};

TEST_F(ObjectFsTest, ImplicitDirectories) {
  store_->PutSync("a/b/c.bin", "hello");
  auto fs = MakeFs();
  auto root = Run(fs->GetAttr(fs->RootInode()));
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->ino, 1u);
  EXPECT_EQ(root->type, vfs::FileType::kDirectory);
  EXPECT_EQ(root->mode, 0755u);
  EXPECT_EQ(root->nlink, 2u);

  auto a = Path(*fs, "a");
  auto b = Path(*fs, "a/b");
  auto c = Path(*fs, "a/b/c.bin");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok()) << c.status().ToString();
  EXPECT_EQ(a->type, vfs::FileType::kDirectory);
  EXPECT_EQ(b->type, vfs::FileType::kDirectory);
  EXPECT_EQ(c->type, vfs::FileType::kRegular);
  EXPECT_EQ(c->size, 5u);
  EXPECT_EQ(c->mode, 0644u);
  EXPECT_EQ(c->nlink, 1u);
  EXPECT_EQ(c->space_used, 4096u);
  EXPECT_EQ(c->mtime.sec, c->ctime.sec);  // LastModified when no mtime metadata

  EXPECT_EQ(ReadAllNames(*fs, fs->RootInode()), std::vector<std::string>{"a"});
  EXPECT_EQ(ReadAllNames(*fs, b->ino), std::vector<std::string>{"c.bin"});
  EXPECT_EQ(Run(fs->Parent(b->ino))->ino, a->ino);
  EXPECT_EQ(Run(fs->Parent(a->ino))->ino, 1u);
  EXPECT_EQ(Run(fs->Parent(1))->ino, 1u);
  EXPECT_EQ(Run(fs->Parent(c->ino)).status().code(), ErrorCode::kNotDir);

  auto data = Run(fs->Read(c->ino, 0, 100));
  ASSERT_TRUE(data.ok());
  EXPECT_EQ(Str(data->data), "hello");
  EXPECT_TRUE(data->eof);
}

TEST_F(ObjectFsTest, MarkerDirectoriesCarryMetadata) {
  store_->PutSync("m/", "", {{"mode", "16832"}, {"uid", "7"}, {"gid", "8"}});  // 040700
  store_->PutSync("m/f", "x");
  store_->PutSync("empty/", "");
  auto fs = MakeFs();
  EXPECT_EQ(ReadAllNames(*fs, 1), (std::vector<std::string>{"empty", "m"}));
  auto m = Path(*fs, "m");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(ReadAllNames(*fs, m->ino), std::vector<std::string>{"f"});  // marker is no entry
  auto attr = Run(fs->GetAttr(m->ino));
  ASSERT_TRUE(attr.ok());
  EXPECT_EQ(attr->type, vfs::FileType::kDirectory);
  EXPECT_EQ(attr->mode, 0700u);
  EXPECT_EQ(attr->uid, 7u);
  EXPECT_EQ(attr->gid, 8u);

  auto empty = Path(*fs, "empty");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(ReadAllNames(*fs, empty->ino).empty());
  EXPECT_TRUE(Run(fs->GetAttr(empty->ino)).ok());
}

TEST_F(ObjectFsTest, S3fsFileMetadataIsReadOnceByHead) {
  store_->PutSync("f", "data",
                  {{"mode", "33261"}, {"uid", "1000"}, {"gid", "1001"}, {"mtime", "1600000000.5"}});
  store_->PutSync("g", "plain");
  ObjectFsOptions opts;
  opts.default_uid = 55;
  opts.default_gid = 66;
  auto fs = MakeFs(opts);
  // READDIR does not HEAD.
  auto page = Run(fs->ReadDir(1, 0, 10));
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->entries.size(), 2u);
  EXPECT_EQ(store_->count(Op::kHead), 0u);

  auto f = Path(*fs, "f");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->mode, 0755u);
  EXPECT_EQ(f->uid, 1000u);
  EXPECT_EQ(f->gid, 1001u);
  EXPECT_EQ(f->mtime.sec, 1600000000);
  EXPECT_EQ(f->mtime.nsec, 500000000u);
  EXPECT_EQ(store_->count(Op::kHead), 1u);
  EXPECT_TRUE(Run(fs->GetAttr(f->ino)).ok());
  EXPECT_EQ(store_->count(Op::kHead), 1u);  // cached for the TTL

  auto g = Path(*fs, "g");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->mode, 0644u);
  EXPECT_EQ(g->uid, 55u);
  EXPECT_EQ(g->gid, 66u);
  EXPECT_EQ(g->mtime.sec, 1'700'000'000 + 2);  // the fake's LastModified of the 2nd PUT
}

TEST_F(ObjectFsTest, Symlinks) {
  store_->PutSync("link", "target/path", {{"mode", "41471"}});  // 0120777
  store_->PutSync("file", "x");
  auto fs = MakeFs();
  auto link = Path(*fs, "link");
  ASSERT_TRUE(link.ok());
  EXPECT_EQ(link->type, vfs::FileType::kSymlink);
  EXPECT_EQ(link->mode, 0777u);
  auto target = Run(fs->ReadLink(link->ino));
  ASSERT_TRUE(target.ok()) << target.status().ToString();
  EXPECT_EQ(*target, "target/path");
  uint64_t gets = store_->count(Op::kGet);
  EXPECT_EQ(*Run(fs->ReadLink(link->ino)), "target/path");
  EXPECT_EQ(store_->count(Op::kGet), gets);  // cached

  auto file = Path(*fs, "file");
  EXPECT_EQ(Run(fs->ReadLink(file->ino)).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(Run(fs->ReadLink(1)).status().code(), ErrorCode::kInvalidArgument);
}

TEST_F(ObjectFsTest, InvalidKeysAreHidden) {
  std::string long_name(256, 'n');
  store_->PutSync("a//b", "1");
  store_->PutSync("./x", "1");
  store_->PutSync("../y", "1");
  store_->PutSync("/lead", "1");
  store_->PutSync(long_name, "1");
  store_->PutSync("d/" + long_name + "/z", "1");
  store_->PutSync("ok", "1");
  auto fs = MakeFs();
  EXPECT_EQ(ReadAllNames(*fs, 1), (std::vector<std::string>{"a", "d", "ok"}));
  auto a = Path(*fs, "a");
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(ReadAllNames(*fs, a->ino).empty());  // "a//" is hidden, "a" still exists
  auto d = Path(*fs, "d");
  EXPECT_TRUE(ReadAllNames(*fs, d->ino).empty());
  EXPECT_EQ(Run(fs->Lookup(1, "..")).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(Run(fs->Lookup(1, "")).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(Run(fs->Lookup(1, long_name)).status().code(), ErrorCode::kNameTooLong);
  EXPECT_EQ(Run(fs->Lookup(1, "a/b")).status().code(), ErrorCode::kNotFound);
  EXPECT_GE(fs->counters().hidden_invalid, 6u);
}

TEST_F(ObjectFsTest, DirectoryWinsOverObjectWithSameName) {
  store_->PutSync("a", "i am a file");
  store_->PutSync("a/x", "child");
  auto fs = MakeFs();
  EXPECT_EQ(ReadAllNames(*fs, 1), std::vector<std::string>{"a"});
  auto a = Path(*fs, "a");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->type, vfs::FileType::kDirectory);
  EXPECT_TRUE(Path(*fs, "a/x").ok());
  EXPECT_EQ(fs->counters().hidden_shadowed, 1u);
}

TEST_F(ObjectFsTest, TenThousandKeysWithSmallPages) {
  char name[32];
  for (int i = 0; i < 10000; ++i) {
    std::snprintf(name, sizeof(name), "big/f%05d", i);
    store_->PutSync(name, "v");
  }
  store_->set_max_keys_cap(100);
  auto fs = MakeFs();
  auto big = Path(*fs, "big");
  ASSERT_TRUE(big.ok());
  store_->ResetCounts();

  uint64_t cookie = 0, verifier = 0;
  std::vector<std::string> names;
  int pages = 0;
  for (;;) {
    auto page = Run(fs->ReadDir(big->ino, cookie, 1000));
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    if (pages++ == 0) verifier = page->verifier;
    EXPECT_EQ(page->verifier, verifier);
    for (const auto& e : page->entries) {
      EXPECT_GT(e.cookie, cookie);
      EXPECT_GE(e.cookie, 3u);
      cookie = e.cookie;
      names.push_back(e.name);
    }
    if (page->eof) break;
  }
  EXPECT_EQ(pages, 10);
  ASSERT_EQ(names.size(), 10000u);
  EXPECT_EQ(names.front(), "f00000");
  EXPECT_EQ(names.back(), "f09999");
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_EQ(store_->count(Op::kList), 100u);  // one listing, 100 pages
  EXPECT_EQ(store_->count(Op::kHead), 0u);

  auto past = Run(fs->ReadDir(big->ino, cookie + 50, 10));
  ASSERT_TRUE(past.ok());
  EXPECT_TRUE(past->entries.empty());
  EXPECT_TRUE(past->eof);
  // Resuming in the middle.
  auto mid = Run(fs->ReadDir(big->ino, 3 + 4999, 2));
  ASSERT_TRUE(mid.ok());
  ASSERT_EQ(mid->entries.size(), 2u);
  EXPECT_EQ(mid->entries[0].name, "f05000");
  EXPECT_FALSE(mid->eof);
  EXPECT_TRUE(Run(fs->Lookup(big->ino, "f07777")).ok());
}

TEST_F(ObjectFsTest, ConcurrentLookupsShareOneListing) {
  for (int i = 0; i < 50; ++i) store_->PutSync("d/f" + std::to_string(i), "x");
  auto fs = MakeFs();
  auto d = Path(*fs, "d");
  ASSERT_TRUE(d.ok());
  store_->ResetCounts();
  store_->set_latency(20ms);

  int ok = 0;
  for (int i = 0; i < 50; ++i) {
    asio::co_spawn(
        io_,
        [&, i]() -> Awaitable<void> {
          auto r = co_await fs->Lookup(d->ino, "f" + std::to_string(i));
          if (r.ok()) ++ok;
        },
        asio::detached);
  }
  io_.restart();
  io_.run();
  EXPECT_EQ(ok, 50);
  EXPECT_EQ(store_->count(Op::kList), 1u);

  // A burst of GETATTRs on one unheaded file: one HEAD.
  store_->PutSync("solo", "x");
  Advance(10s);
  ASSERT_TRUE(Run(fs->ReadDir(1, 0, 10)).ok());
  auto page = Run(fs->ReadDir(1, 0, 10));
  vfs::InodeId solo = 0;
  for (const auto& e : page->entries) {
    if (e.name == "solo") solo = e.attr.ino;
  }
  ASSERT_NE(solo, 0u);
  store_->ResetCounts();
  for (int i = 0; i < 20; ++i) {
    asio::co_spawn(
        io_, [&]() -> Awaitable<void> { EXPECT_TRUE((co_await fs->GetAttr(solo)).ok()); },
        asio::detached);
  }
  io_.restart();
  io_.run();
  EXPECT_EQ(store_->count(Op::kHead), 1u);
}

TEST_F(ObjectFsTest, MultiThreadedReaders) {
  for (int i = 0; i < 20; ++i) store_->PutSync("t/f" + std::to_string(i), "payload");
  store_->set_latency(1ms);
  auto fs = MakeFs();
  std::atomic<int> ok{0};
  for (int i = 0; i < 200; ++i) {
    asio::co_spawn(
        io_,
        [&, i]() -> Awaitable<void> {
          auto t = co_await fs->Lookup(1, "t");
          if (!t.ok()) co_return;
          auto f = co_await fs->Lookup(t->ino, "f" + std::to_string(i % 20));
          if (!f.ok()) co_return;
          auto r = co_await fs->Read(f->ino, 0, 100);
          if (r.ok() && Str(r->data) == "payload") ++ok;
        },
        asio::detached);
  }
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back([this] { io_.run(); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 200);
  EXPECT_EQ(store_->count(Op::kList), 2u);   // root and t, each once
  EXPECT_EQ(store_->count(Op::kHead), 21u);  // "t/" (no marker) and each file once
}

TEST_F(ObjectFsTest, TtlExpiryRelists) {
  store_->PutSync("a", "1");
  auto fs = MakeFs();
  auto first = Run(fs->ReadDir(1, 0, 10));
  ASSERT_TRUE(first.ok());
  auto a_ino = first->entries[0].attr.ino;
  store_->PutSync("b", "2");
  EXPECT_EQ(Run(fs->Lookup(1, "b")).status().code(), ErrorCode::kNotFound);  // cached
  EXPECT_EQ(store_->count(Op::kList), 1u);

  Advance(5s);  // TTL is 5 s
  EXPECT_TRUE(Run(fs->Lookup(1, "b")).ok());
  EXPECT_EQ(store_->count(Op::kList), 2u);
  auto second = Run(fs->ReadDir(1, 0, 10));
  // Entries keep their slots (new ones are appended), so cookies and their verifier stay valid;
  // the directory's change attribute is what tells clients the content changed.
  EXPECT_EQ(second->verifier, first->verifier);
  ASSERT_EQ(second->entries.size(), 2u);
  EXPECT_EQ(second->entries[0].attr.ino, a_ino);  // stable inode numbers
  EXPECT_EQ(second->entries[1].name, "b");

  Advance(6s);
  auto third = Run(fs->ReadDir(1, 0, 10));
  EXPECT_EQ(store_->count(Op::kList), 3u);
  EXPECT_EQ(third->verifier, second->verifier);  // unchanged listing, unchanged verifier
}

// A config reload changes the TTL of a running file system: later checks use the new one.
TEST_F(ObjectFsTest, SetMetadataTtlAppliesToLaterChecks) {
  store_->PutSync("a", "1");
  auto fs = MakeFs();  // TTL 5 s
  ASSERT_TRUE(Run(fs->ReadDir(1, 0, 10)).ok());
  store_->PutSync("b", "2");
  fs->SetMetadataTtl(60s);
  EXPECT_EQ(fs->metadata_ttl(), 60s);
  EXPECT_EQ(fs->options().metadata_ttl, 5s);  // what it started with
  Advance(30s);
  EXPECT_EQ(Run(fs->Lookup(1, "b")).status().code(), ErrorCode::kNotFound);  // still fresh
  EXPECT_EQ(store_->count(Op::kList), 1u);
  fs->SetMetadataTtl(1s);
  EXPECT_TRUE(Run(fs->Lookup(1, "b")).ok());
  EXPECT_EQ(store_->count(Op::kList), 2u);
}

// A directory that takes longer than a fifth of the TTL to list stays cached for five times its
// listing time: otherwise every access after the TTL would wait for yet another full listing.
TEST_F(ObjectFsTest, SlowListingsStayFreshLongerThanTheTtl) {
  for (int i = 0; i < 3; ++i) store_->PutSync("k" + std::to_string(i), "x");
  store_->set_max_keys_cap(1);  // 3 pages (and a last, empty one at most)
  store_->set_on_list([this] { Advance(2s); });
  auto fs = MakeFs();  // TTL 5 s
  ASSERT_TRUE(Run(fs->Lookup(1, "k0")).ok());
  const uint64_t lists = store_->count(Op::kList);
  ASSERT_GE(lists, 3u);  // so the listing took >= 6 s: fresh for >= 30 s
  store_->set_on_list({});
  Advance(20s);
  EXPECT_EQ(Run(fs->Lookup(1, "k9")).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->count(Op::kList), lists);  // still the first listing
  Advance(15s);
  EXPECT_EQ(Run(fs->Lookup(1, "k9")).status().code(), ErrorCode::kNotFound);
  EXPECT_GT(store_->count(Op::kList), lists);  // re-listed
}

TEST_F(ObjectFsTest, DirectoryChangeAttributeFollowsListing) {
  store_->PutSync("d/a", "1");
  auto fs = MakeFs();
  auto d = Path(*fs, "d");
  ASSERT_TRUE(Run(fs->ReadDir(d->ino, 0, 10)).ok());
  auto before = Run(fs->GetAttr(d->ino));
  store_->PutSync("d/b", "1");
  Advance(6s);
  auto after = Run(fs->GetAttr(d->ino));
  ASSERT_TRUE(before.ok() && after.ok());
  EXPECT_NE(before->change, after->change);
}

TEST_F(ObjectFsTest, ObjectReplacedBehindOurBack) {
  store_->PutSync("f", "v1");
  auto fs = MakeFs();
  auto f = Path(*fs, "f");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(Str(Run(fs->Read(f->ino, 0, 100))->data), "v1");

  store_->PutSync("f", "version two");
  // Within the TTL the cached ETag is used; If-Match fails, the read refreshes and retries.
  auto r = Run(fs->Read(f->ino, 0, 100));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Str(r->data), "version two");
  EXPECT_TRUE(r->eof);
  auto attr = Run(fs->GetAttr(f->ino));
  EXPECT_EQ(attr->size, 11u);
  EXPECT_NE(attr->change, f->change);
  EXPECT_GT(attr->bucket_version, f->bucket_version);  // changed behind the gateway

  // Close-to-open: Open after the TTL HEADs and sees the replacement.
  store_->PutSync("f", "third!");
  Advance(6s);
  uint64_t heads = store_->count(Op::kHead);
  auto opened = Run(fs->Open(f->ino));
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(store_->count(Op::kHead), heads + 1);
  EXPECT_EQ(opened->size, 6u);
  EXPECT_NE(opened->change, attr->change);
  EXPECT_GT(opened->bucket_version, attr->bucket_version);
  EXPECT_EQ(opened->ino, f->ino);

  // Same bytes rewritten: same ETag, new LastModified → change still differs.
  store_->PutSync("f", "third!");
  Advance(6s);
  auto again = Run(fs->Open(f->ino));
  EXPECT_NE(again->change, opened->change);
}

TEST_F(ObjectFsTest, DeletedObjectBecomesStale) {
  store_->PutSync("f", "v1");
  store_->PutSync("g", "v1");
  auto fs = MakeFs();
  auto f = Path(*fs, "f");
  auto g = Path(*fs, "g");
  ASSERT_TRUE(f.ok() && g.ok());

  store_->DeleteSync("f");
  // Within the TTL: the read finds it gone.
  EXPECT_EQ(Run(fs->Read(f->ino, 0, 10)).status().code(), ErrorCode::kStale);
  EXPECT_EQ(Run(fs->GetAttr(f->ino)).status().code(), ErrorCode::kStale);
  // The cached listing still names it, but LOOKUP says NotFound (not a stale directory).
  EXPECT_EQ(Run(fs->Lookup(1, "f")).status().code(), ErrorCode::kNotFound);

  store_->DeleteSync("g");
  Advance(6s);
  EXPECT_EQ(Run(fs->Open(g->ino)).status().code(), ErrorCode::kStale);
  EXPECT_EQ(Run(fs->Lookup(1, "g")).status().code(), ErrorCode::kNotFound);

  // Re-created under the same key: a new file (new inode number); the old one stays stale, so a
  // handle to the deleted file never silently names its successor.
  store_->PutSync("g", "again");
  Advance(6s);
  auto g2 = Run(fs->Lookup(1, "g"));
  ASSERT_TRUE(g2.ok());
  EXPECT_NE(g2->ino, g->ino);
  EXPECT_EQ(Run(fs->GetAttr(g->ino)).status().code(), ErrorCode::kStale);
  EXPECT_EQ(Str(Run(fs->Read(g2->ino, 0, 10))->data), "again");
}

TEST_F(ObjectFsTest, VanishedDirectoryIsStale) {
  store_->PutSync("gone/x", "1");
  auto fs = MakeFs();
  auto dir = Path(*fs, "gone");
  ASSERT_TRUE(dir.ok());
  ASSERT_TRUE(Run(fs->ReadDir(dir->ino, 0, 10)).ok());
  store_->DeleteSync("gone/x");
  Advance(6s);
  EXPECT_EQ(Run(fs->ReadDir(dir->ino, 0, 10)).status().code(), ErrorCode::kStale);
  EXPECT_EQ(Run(fs->Lookup(1, "gone")).status().code(), ErrorCode::kNotFound);
}

TEST_F(ObjectFsTest, ReadEdges) {
  store_->PutSync("empty", "");
  store_->PutSync("ten", "0123456789");
  auto fs = MakeFs();
  auto empty = Path(*fs, "empty");
  auto ten = Path(*fs, "ten");
  ASSERT_TRUE(empty.ok() && ten.ok());
  store_->ResetCounts();

  auto r = Run(fs->Read(empty->ino, 0, 10));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->data.empty());
  EXPECT_TRUE(r->eof);
  EXPECT_EQ(store_->count(Op::kGet), 0u);

  r = Run(fs->Read(ten->ino, 0, 4));
  EXPECT_EQ(Str(r->data), "0123");
  EXPECT_FALSE(r->eof);
  r = Run(fs->Read(ten->ino, 6, 100));
  EXPECT_EQ(Str(r->data), "6789");
  EXPECT_TRUE(r->eof);
  r = Run(fs->Read(ten->ino, 4, 6));
  EXPECT_EQ(Str(r->data), "456789");
  EXPECT_TRUE(r->eof);
  EXPECT_EQ(store_->count(Op::kGet), 3u);

  r = Run(fs->Read(ten->ino, 10, 5));
  EXPECT_TRUE(r->data.empty());
  EXPECT_TRUE(r->eof);
  r = Run(fs->Read(ten->ino, 1000, 5));
  EXPECT_TRUE(r->eof);
  r = Run(fs->Read(ten->ino, 0, 0));
  EXPECT_TRUE(r->data.empty());
  EXPECT_FALSE(r->eof);
  EXPECT_EQ(store_->count(Op::kGet), 3u);

  EXPECT_EQ(Run(fs->Read(1, 0, 10)).status().code(), ErrorCode::kIsDir);
}

TEST_F(ObjectFsTest, ErrorsArePassedThroughAndNotCached) {
  store_->PutSync("f", "x");
  auto fs = MakeFs();
  store_->FailNext(Op::kList, UnavailableError("SlowDown"));
  auto r = Run(fs->ReadDir(1, 0, 10));
  EXPECT_EQ(r.status().code(), ErrorCode::kUnavailable);
  EXPECT_NE(r.status().message().find("listing s3://test-bucket/"), std::string::npos);
  ASSERT_TRUE(Run(fs->ReadDir(1, 0, 10)).ok());

  auto f = Path(*fs, "f");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(Run(fs->ReadDir(f->ino, 0, 10)).status().code(), ErrorCode::kNotDir);
  EXPECT_EQ(Run(fs->Lookup(f->ino, "x")).status().code(), ErrorCode::kNotDir);
  EXPECT_EQ(Run(fs->GetAttr(999999)).status().code(), ErrorCode::kStale);
  EXPECT_EQ(Run(fs->Lookup(1, "nope")).status().code(), ErrorCode::kNotFound);

  store_->FailNext(Op::kGet, Status(ErrorCode::kAccessDenied, "403"));
  EXPECT_EQ(Run(fs->Read(f->ino, 0, 1)).status().code(), ErrorCode::kAccessDenied);
  Advance(6s);
  store_->FailNext(Op::kHead, UnavailableError("503"));
  EXPECT_EQ(Run(fs->GetAttr(f->ino)).status().code(), ErrorCode::kUnavailable);
  EXPECT_TRUE(Run(fs->GetAttr(f->ino)).ok());
}

TEST_F(ObjectFsTest, ExportPrefix) {
  store_->PutSync("exp/", "", {{"mode", "16832"}});
  store_->PutSync("exp/in.txt", "in");
  store_->PutSync("exp/sub/deep", "d");
  store_->PutSync("expx/out", "no");
  store_->PutSync("other", "no");
  ObjectFsOptions opts;
  opts.prefix = "exp";  // normalised to "exp/"
  auto fs = MakeFs(opts);
  EXPECT_EQ(ReadAllNames(*fs, 1), (std::vector<std::string>{"in.txt", "sub"}));
  auto root = Run(fs->GetAttr(1));
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->mode, 0700u);
  auto deep = Path(*fs, "sub/deep");
  ASSERT_TRUE(deep.ok());
  EXPECT_EQ(Str(Run(fs->Read(deep->ino, 0, 10))->data), "d");
}

TEST_F(ObjectFsTest, StatFs) {
  store_->PutSync("a", "1");
  auto fs = MakeFs();
  EXPECT_TRUE(fs->ReadOnly());
  ASSERT_TRUE(Run(fs->ReadDir(1, 0, 10)).ok());
  auto s = Run(fs->StatFs());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->total_bytes, kStatFsTotalBytes);
  EXPECT_EQ(s->avail_bytes, kStatFsTotalBytes);
  EXPECT_EQ(s->free_files, kStatFsFreeFiles);
  EXPECT_EQ(s->total_files, kStatFsFreeFiles + 2);
}

TEST_F(ObjectFsTest, MaxDirEntries) {
  for (int i = 0; i < 20; ++i) store_->PutSync("f" + std::to_string(i), "x");
  ObjectFsOptions opts;
  opts.max_dir_entries = 10;
  auto fs = MakeFs(opts);
  EXPECT_EQ(Run(fs->ReadDir(1, 0, 10)).status().code(), ErrorCode::kTooBig);
}

TEST(FakeObjectStoreTest, ListSemantics) {
  FakeObjectStore store;
  for (const char* k : {"a", "b/1", "b/2", "b/", "c/d/e", "d", "e/"}) store.PutSync(k, "x");
  store.set_max_keys_cap(2);
  asio::io_context io;
  std::vector<std::string> seen;
  asio::co_spawn(
      io,
      [&]() -> Awaitable<void> {
        objstore::ListRequest req;
        for (;;) {
          auto page = co_await store.List(req);
          EXPECT_TRUE(page.ok());
          EXPECT_LE(page->objects.size() + page->common_prefixes.size(), 2u);
          for (auto& o : page->objects) seen.push_back(o.key);
          for (auto& p : page->common_prefixes) seen.push_back(p);
          if (page->next_continuation_token.empty()) break;
          req.continuation_token = page->next_continuation_token;
        }
      },
      asio::detached);
  io.run();
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b/", "c/", "d", "e/"}));
}

}  // namespace
}  // namespace bucketfs::gateway

namespace bucketfs::gateway {
namespace {

TEST_F(ObjectFsTest, FirstListingStreamsToReadDirBeforeTheLastPage) {
  for (int i = 0; i < 100; ++i) {
    char name[16];
    std::snprintf(name, sizeof(name), "big/k%03d", i);
    store_->PutSync(name, "x");
  }
  store_->set_max_keys_cap(10);  // 10 LIST pages
  store_->set_latency(2ms);
  auto fs = MakeFs();
  auto big = Path(*fs, "big");
  ASSERT_TRUE(big.ok());
  store_->ResetCounts();
  uint64_t lists_when_first_page_served = 0;
  std::vector<std::string> names;
  uint64_t cookie = 0;
  bool eof = false;
  auto walk = [&]() -> Awaitable<void> {
    while (!eof) {
      auto page = co_await fs->ReadDir(big->ino, cookie, 7);
      EXPECT_TRUE(page.ok());
      if (!page.ok()) co_return;
      if (names.empty()) lists_when_first_page_served = store_->count(Op::kList);
      for (auto& e : page->entries) {
        names.push_back(e.name);
        cookie = e.cookie;
      }
      eof = page->eof;
    }
  };
  asio::co_spawn(io_, walk(), asio::detached);
  io_.restart();
  io_.run();
  EXPECT_LT(lists_when_first_page_served, 10u);  // served before the last page arrived
  ASSERT_EQ(names.size(), 100u);
  for (int i = 0; i < 100; ++i) {
    char name[16];
    std::snprintf(name, sizeof(name), "k%03d", i);
    EXPECT_EQ(names[i], name);
  }
  EXPECT_EQ(store_->count(Op::kList), 10u);  // one LIST sequence for all the READDIRs
  // Once complete, the same cookies address the same entries of the snapshot.
  auto again = Run(fs->ReadDir(big->ino, 3 + 49, 1));
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->entries.size(), 1u);
  EXPECT_EQ(again->entries[0].name, "k050");
  EXPECT_NE(again->verifier, 0u);
}

TEST_F(ObjectFsTest, StreamedListingErrorReachesEveryReader) {
  for (int i = 0; i < 30; ++i) store_->PutSync("d/k" + std::to_string(100 + i), "x");
  store_->set_max_keys_cap(10);
  auto fs = MakeFs();
  auto d = Path(*fs, "d");
  ASSERT_TRUE(d.ok());
  store_->ResetCounts();
  // The first LIST page arrives, the second fails.
  store_->FailNext(Op::kList, Status::Ok(), 1);
  store_->FailNext(Op::kList, UnavailableError("slow down"), 1);
  store_->set_latency(std::chrono::milliseconds(5));
  // Concurrent readers of one stream: the one served from the first page succeeds, the ones
  // waiting for later entries see the error.
  std::optional<Result<vfs::DirPage>> early, late1, late2;
  auto read = [&](std::optional<Result<vfs::DirPage>>& out, std::size_t n) {
    asio::co_spawn(
        io_,
        [&out, &fs, d, n]() -> Awaitable<void> { out.emplace(co_await fs->ReadDir(d->ino, 0, n)); },
        asio::detached);
  };
  read(early, 5);
  read(late1, 100);
  read(late2, 25);
  io_.restart();
  io_.run();
  ASSERT_TRUE(early && late1 && late2);
  ASSERT_TRUE(early->ok()) << early->status().ToString();
  EXPECT_EQ((*early)->entries.size(), 5u);
  EXPECT_FALSE((*early)->eof);
  EXPECT_EQ(late1->status().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(late2->status().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(store_->count(Op::kList), 2u);  // one stream for all three
  // The error is not cached: a later READDIR starts a new listing.
  auto retry = Run(fs->ReadDir(d->ino, 0, 100));
  ASSERT_TRUE(retry.ok()) << retry.status().ToString();
  EXPECT_EQ(retry->entries.size(), 30u);
  EXPECT_TRUE(retry->eof);
}

// The namespace persisted in a real SQLite metadata store across a simulated restart.
class PersistentObjectFsTest : public ObjectFsTest {
 protected:
  PersistentObjectFsTest()
      : path_(std::filesystem::temp_directory_path() /
              ("bfs-objfs-" + std::to_string(getpid()) + "-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name()) /
              "meta.db") {
    std::filesystem::remove_all(path_.parent_path());
  }
  ~PersistentObjectFsTest() override { std::filesystem::remove_all(path_.parent_path()); }

  // One "gateway process": a store, its async wrapper and the file system over them.
  struct Process {
    std::shared_ptr<meta::AsyncMetaStore> meta;
    std::unique_ptr<ObjectFileSystem> fs;
    uint32_t generation = 0;
  };

  Process Start() {
    auto opened = meta::SqliteMetaStore::Open(path_.string());
    EXPECT_TRUE(opened.ok()) << opened.status().ToString();
    std::shared_ptr<meta::MetaStore> store = std::move(opened).value();
    auto state = store->OpenExport(1, "data", "bucket", "");
    EXPECT_TRUE(state.ok());
    Process p;
    p.generation = store->BootGeneration();
    p.meta = std::make_shared<meta::AsyncMetaStore>(store, pool_);
    ObjectFsOptions o;
    o.meta = p.meta;
    o.export_id = 1;
    o.export_state = *state;
    p.fs = MakeFs(std::move(o));
    return p;
  }

  BlockingPool pool_{2};
  std::filesystem::path path_;
};

TEST_F(PersistentObjectFsTest, RootChangeAttributeFollowsTheBucketAfterARestart) {
  store_->PutSync("a", "1");
  {
    Process p = Start();
    ASSERT_TRUE(Run(p.fs->ReadDir(1, 0, 10)).ok());
    p.meta->FlushSync();
  }
  Process p = Start();
  auto before = Run(p.fs->GetAttr(1));
  ASSERT_TRUE(before.ok());
  store_->PutSync("b", "2");
  Advance(6s);
  // GETATTR alone (a client revalidating a cached negative lookup) re-lists the expired root.
  auto after = Run(p.fs->GetAttr(1));
  ASSERT_TRUE(after.ok());
  EXPECT_NE(after->change, before->change);
}

TEST_F(PersistentObjectFsTest, HandlesAndListingsSurviveARestart) {
  store_->PutSync("a/b/c.bin", "payload");
  store_->PutSync("a/top.txt", "t");
  vfs::Attr a, c;
  uint32_t first_generation;
  {
    Process p = Start();
    first_generation = p.generation;
    auto ra = Path(*p.fs, "a");
    auto rc = Path(*p.fs, "a/b/c.bin");
    ASSERT_TRUE(ra.ok() && rc.ok());
    a = *ra;
    c = *rc;
    EXPECT_EQ(c.generation, first_generation);
    EXPECT_EQ(Run(p.fs->GetAttr(1))->generation, meta::kRootGeneration);
    p.meta->FlushSync();
  }
  Process p = Start();
  EXPECT_EQ(p.generation, first_generation + 1);
  store_->ResetCounts();
  // A handle from before the restart: same inode, same generation, right bytes, no LIST needed.
  auto again = Run(p.fs->GetAttr(c.ino));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->generation, c.generation);
  EXPECT_EQ(again->size, 7u);
  EXPECT_EQ(Str(Run(p.fs->Read(c.ino, 0, 100))->data), "payload");
  auto b = Run(p.fs->Lookup(a.ino, "b"));
  ASSERT_TRUE(b.ok());
  auto parent = Run(p.fs->Parent(b->ino));
  ASSERT_TRUE(parent.ok());
  EXPECT_EQ(parent->ino, a.ino);
  // "a" has no marker object: its mtime is the export's start, the same after the restart.
  EXPECT_EQ(parent->mtime.sec, a.mtime.sec);
  EXPECT_EQ(parent->mtime.nsec, a.mtime.nsec);
  // The listing of "a" was persisted and is still within its TTL: served without a LIST.
  auto names = ReadAllNames(*p.fs, a.ino);
  EXPECT_EQ(names, (std::vector<std::string>{"b", "top.txt"}));
  EXPECT_EQ(store_->count(Op::kList), 0);
  // After the TTL the re-listing keeps every inode number.
  Advance(6s);
  auto c2 = Path(*p.fs, "a/b/c.bin");
  ASSERT_TRUE(c2.ok());
  EXPECT_EQ(c2->ino, c.ino);
  EXPECT_GT(store_->count(Op::kList), 0);
  // A new object gets this run's generation.
  store_->PutSync("a/new.txt", "n");
  Advance(6s);
  auto n = Path(*p.fs, "a/new.txt");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->generation, p.generation);
  EXPECT_GT(n->ino, c.ino);
}

TEST_F(PersistentObjectFsTest, InodesNeverSeenAreStaleAfterARestart) {
  store_->PutSync("x", "1");
  { Process p = Start(); }
  Process p = Start();
  EXPECT_EQ(Run(p.fs->GetAttr(12345)).status().code(), ErrorCode::kStale);
}

TEST_F(PersistentObjectFsTest, DeletionSeenBeforeARestartStaysStale) {
  store_->PutSync("d/x", "1");
  store_->PutSync("d/y", "2");
  vfs::Attr x;
  {
    Process p = Start();
    auto rx = Path(*p.fs, "d/x");
    ASSERT_TRUE(rx.ok());
    x = *rx;
    store_->DeleteSync("d/x");
    Advance(6s);
    ASSERT_EQ(Run(p.fs->Open(x.ino)).status().code(), ErrorCode::kStale);
    p.meta->FlushSync();
  }
  Process p = Start();
  EXPECT_EQ(Run(p.fs->GetAttr(x.ino)).status().code(), ErrorCode::kStale);
}

// meta.db deleted between two runs (handle.key kept, so the nfs layer still accepts the old
// handles' tags): the new store has a new random boot generation and knows no inode. A handle
// from before answers STALE, also once its inode number names an inode again (the nfs layer
// compares generations: op_util Resolve), never another file's data. Export roots stay valid.
TEST_F(PersistentObjectFsTest, HandlesFromBeforeTheDatabaseWasDeletedAreStale) {
  store_->PutSync("a.txt", "first");
  store_->PutSync("b.txt", "second");
  vfs::Attr a, b;
  {
    Process p = Start();
    auto ra = Path(*p.fs, "a.txt");
    auto rb = Path(*p.fs, "b.txt");
    ASSERT_TRUE(ra.ok() && rb.ok());
    a = *ra;
    b = *rb;
    p.meta->FlushSync();
  }
  for (const char* name : {"meta.db", "meta.db-wal", "meta.db-shm"}) {
    std::filesystem::remove(path_.parent_path() / name);
  }
  Process p = Start();
  EXPECT_NE(p.generation, a.generation);
  EXPECT_EQ(Run(p.fs->GetAttr(a.ino)).status().code(), ErrorCode::kStale);
  EXPECT_EQ(Run(p.fs->GetAttr(b.ino)).status().code(), ErrorCode::kStale);
  auto root = Run(p.fs->GetAttr(1));
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->generation, meta::kRootGeneration);
  // Walked again from the root, the files get inode numbers of this run; where one reuses an
  // old number, its generation differs from the old handle's.
  auto ra = Path(*p.fs, "a.txt");
  auto rb = Path(*p.fs, "b.txt");
  ASSERT_TRUE(ra.ok() && rb.ok());
  EXPECT_EQ(ra->generation, p.generation);
  EXPECT_EQ(rb->generation, p.generation);
  for (const vfs::Attr& old : {a, b}) {
    auto now = Run(p.fs->GetAttr(old.ino));
    if (now.ok()) {
      EXPECT_NE(now->generation, old.generation) << "inode " << old.ino;
    }
  }
  EXPECT_EQ(Str(Run(p.fs->Read(ra->ino, 0, 100))->data), "first");
}

}  // namespace
}  // namespace bucketfs::gateway
