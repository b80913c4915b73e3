#include "meta/sqlite_meta_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "meta/async_meta_store.h"

namespace bucketfs::meta {
namespace {

namespace fs = std::filesystem;

class SqliteMetaStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("bfs-meta-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    path_ = (dir_ / "state" / "meta.db").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<SqliteMetaStore> OpenOrDie() {
    auto s = SqliteMetaStore::Open(path_);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }

  fs::path dir_;
  std::string path_;
};

InodeRow File(InodeId ino, InodeId parent, std::string name, std::string key) {
  InodeRow r;
  r.ino = ino;
  r.generation = 7;
  r.parent = parent;
  r.name = std::move(name);
  r.key = std::move(key);
  r.size = 1234;
  r.etag = "abc";
  r.version_id = "v1";
  r.last_modified_ns = 1'700'000'000'123'000'000;
  r.meta_known = true;
  r.mode = 0100600;
  r.uid = 1000;
  r.mtime_sec = 1'600'000'000;
  r.mtime_nsec = 5;
  r.validated_at_ms = 42;
  return r;
}

TEST_F(SqliteMetaStoreTest, RowsAndListingsSurviveReopen) {
  uint32_t gen1;
  {
    auto store = OpenOrDie();
    ASSERT_TRUE(store);
    gen1 = store->BootGeneration();
    EXPECT_GT(gen1, kRootGeneration);
    auto st = store->OpenExport(5, "data", "bucket", "p/");
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(st->next_ino, kRootIno + 1);
    EXPECT_FALSE(st->reset);
    EXPECT_TRUE(st->created);
    EXPECT_FALSE(st->rebuilt);
    Batch b;
    b.export_id = 5;
    b.upserts.push_back(File(2, 1, "a", "p/a"));
    InodeRow d = File(3, 1, std::string("d\0x", 3), "p/d/");  // names are bytes
    d.is_dir = true;
    d.mode.reset();
    b.upserts.push_back(d);
    b.listings.push_back({1, {{"a", 2, 0}, {std::string("d\0x", 3), 3, 1}}, 99, 1000});
    b.next_ino = 4;
    ASSERT_TRUE(store->Commit(b).ok());
  }
  auto store = OpenOrDie();
  ASSERT_TRUE(store);
  EXPECT_EQ(store->BootGeneration(), gen1 + 1);
  auto st = store->OpenExport(5, "data", "bucket", "p/");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->next_ino, 4u);
  EXPECT_FALSE(st->created);
  auto row = store->GetInode(5, 2);
  ASSERT_TRUE(row.ok());
  ASSERT_TRUE(row->has_value());
  EXPECT_EQ(**row, File(2, 1, "a", "p/a"));
  auto missing = store->GetInode(5, 99);
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
  auto other_export = store->GetInode(6, 2);
  ASSERT_TRUE(other_export.ok());
  EXPECT_FALSE(other_export->has_value());

  auto dir = store->GetDir(5, 1);
  ASSERT_TRUE(dir.ok());
  ASSERT_TRUE(dir->has_value());
  EXPECT_EQ((*dir)->verifier, 99u);
  EXPECT_EQ((*dir)->loaded_at_ms, 1000);
  ASSERT_EQ((*dir)->entries.size(), 2u);
  EXPECT_EQ((*dir)->entries[1].name, std::string("d\0x", 3));
  EXPECT_EQ((*dir)->children.size(), 2u);
  auto never = store->GetDir(5, 3);
  ASSERT_TRUE(never.ok());
  EXPECT_FALSE(never->has_value());
}

TEST_F(SqliteMetaStoreTest, ListingReplacedAndTouched) {
  auto store = OpenOrDie();
  ASSERT_TRUE(store->OpenExport(1, "x", "b", "").ok());
  Batch b;
  b.export_id = 1;
  b.listings.push_back({1, {{"a", 2, 0}, {"b", 3, 1}, {"c", 4, 2}}, 1, 10});
  ASSERT_TRUE(store->Commit(b).ok());
  Batch b2;
  b2.export_id = 1;
  b2.listings.push_back({1, {{"c", 4}}, 2, 20});
  ASSERT_TRUE(store->Commit(b2).ok());
  Batch b3;
  b3.export_id = 1;
  b3.listing_touches.push_back({1, 30});
  ASSERT_TRUE(store->Commit(b3).ok());
  auto dir = store->GetDir(1, 1);
  ASSERT_TRUE(dir.ok() && dir->has_value());
  EXPECT_EQ((*dir)->entries, (std::vector<DirEntryRow>{{"c", 4, 0}}));
  EXPECT_EQ((*dir)->verifier, 2u);
  EXPECT_EQ((*dir)->loaded_at_ms, 30);
}

TEST_F(SqliteMetaStoreTest, ExportPointedElsewhereForgetsItsNamespaceButNotItsNumbers) {
  auto store = OpenOrDie();
  ASSERT_TRUE(store->OpenExport(1, "x", "b", "").ok());
  Batch b;
  b.export_id = 1;
  b.upserts.push_back(File(2, 1, "a", "a"));
  b.next_ino = 10;
  ASSERT_TRUE(store->Commit(b).ok());
  auto st = store->OpenExport(1, "x", "other-bucket", "");
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(st->reset);
  EXPECT_FALSE(st->created);
  EXPECT_EQ(st->next_ino, 10u);  // numbers are never reused
  auto row = store->GetInode(1, 2);
  ASSERT_TRUE(row.ok());
  EXPECT_FALSE(row->has_value());
}

TEST_F(SqliteMetaStoreTest, ExportStartTimeIsKeptAcrossReopen) {
  int64_t created = 0;
  {
    auto store = OpenOrDie();
    auto st = store->OpenExport(1, "x", "b", "");
    ASSERT_TRUE(st.ok());
    created = st->created_at_ms;
    EXPECT_GT(created, 0);
  }
  auto store = OpenOrDie();
  auto st = store->OpenExport(1, "x", "b", "");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->created_at_ms, created);
}

// A database written by schema 1 (before exports had a start time) is migrated in place: its
// namespace is kept and the export gets a start time.
TEST_F(SqliteMetaStoreTest, SchemaOneIsMigratedKeepingTheNamespace) {
  {
    auto store = OpenOrDie();
    ASSERT_TRUE(store->OpenExport(1, "x", "b", "").ok());
    Batch b;
    b.export_id = 1;
    b.upserts.push_back(File(2, 1, "a", "a"));
    b.next_ino = 10;
    ASSERT_TRUE(store->Commit(b).ok());
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(
          db,
          "ALTER TABLE exports DROP COLUMN created_at_ms; ALTER TABLE inodes DROP COLUMN local; "
          "ALTER TABLE inodes DROP COLUMN links; DROP TABLE nfs_clients; "
          "PRAGMA user_version=1",
          nullptr, nullptr, nullptr),
      SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_close(db);
  auto store = OpenOrDie();
  ASSERT_TRUE(store);
  auto st = store->OpenExport(1, "x", "b", "");
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_FALSE(st->reset);
  EXPECT_EQ(st->next_ino, 10u);
  EXPECT_GT(st->created_at_ms, 0);
  auto row = store->GetInode(1, 2);
  ASSERT_TRUE(row.ok());
  EXPECT_TRUE(row->has_value());
}

TEST_F(SqliteMetaStoreTest, DamagedFileIsMovedAsideAndRebuilt) {
  fs::create_directories(fs::path(path_).parent_path());
  {
    std::ofstream f(path_, std::ios::binary);
    f << "this is not an SQLite database, just some bytes that happen to be here......";
  }
  auto store = OpenOrDie();
  ASSERT_TRUE(store);
  EXPECT_TRUE(store->rebuilt());
  bool aside = false;
  for (const auto& e : fs::directory_iterator(fs::path(path_).parent_path())) {
    if (e.path().filename().string().find("meta.db.corrupt-") == 0) aside = true;
  }
  EXPECT_TRUE(aside);
  auto st = store->OpenExport(1, "x", "b", "");
  ASSERT_TRUE(st.ok());
  // The write path learns that the journal of the last run is gone (it keeps staged files).
  EXPECT_TRUE(st->created);
  EXPECT_TRUE(st->rebuilt);
}

TEST_F(SqliteMetaStoreTest, NewerSchemaIsRefusedWithACause) {
  { auto store = OpenOrDie(); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto store = SqliteMetaStore::Open(path_);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("newer than this bucketfs"), std::string::npos)
      << store.status().message();
}

TEST_F(SqliteMetaStoreTest, UnwritableStateDirIsAClearError) {
  auto store = SqliteMetaStore::Open("/proc/no-such-dir/meta.db");
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("/proc/no-such-dir"), std::string::npos);
}

TEST_F(SqliteMetaStoreTest, JournalKeepsOrderUntilCompleted) {
  auto store = OpenOrDie();
  auto a = store->AppendJournal(1, "copy", "a->b");
  auto b = store->AppendJournal(1, "delete", "a");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_LT(*a, *b);
  ASSERT_TRUE(store->CompleteJournal(*a).ok());
  auto pending = store->PendingJournal(10);
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ((*pending)[0].op, "delete");
  EXPECT_EQ((*pending)[0].payload, "a");
}

TEST_F(SqliteMetaStoreTest, BatchCarriesDirentChangesAndJournalAtomically) {
  auto store = OpenOrDie();
  ASSERT_TRUE(store->OpenExport(1, "e", "b", "").ok());
  InodeRow dir;
  dir.ino = 1;
  dir.generation = 1;
  dir.is_dir = true;
  Batch first;
  first.export_id = 1;
  first.upserts.push_back(dir);
  first.listings.push_back({1, {{"a", 2, 0}, {"b", 3, 1}}, 9, 100});
  ASSERT_TRUE(store->Commit(first).ok());
  auto max_before = store->MaxJournalId();
  ASSERT_TRUE(max_before.ok());
  // Remove "a" (slot 0 stays empty), add "c" in slot 2, journal the S3 side, durably.
  Batch change;
  change.export_id = 1;
  change.durable = true;
  change.dirent_deletes.emplace_back(1, 0);
  change.dirent_puts.push_back({1, {"c", 4, 2}});
  change.journal_appends.push_back({*max_before + 5, "delete", "a"});
  ASSERT_TRUE(store->Commit(change).ok());
  auto d = store->GetDir(1, 1);
  ASSERT_TRUE(d.ok() && d->has_value());
  ASSERT_EQ((*d)->entries.size(), 2u);
  EXPECT_EQ((*d)->entries[0], (DirEntryRow{"b", 3, 1}));
  EXPECT_EQ((*d)->entries[1], (DirEntryRow{"c", 4, 2}));
  auto j = store->PendingJournal(10);
  ASSERT_EQ(j->size(), 1u);
  EXPECT_EQ((*j)[0].id, *max_before + 5);
  EXPECT_EQ(*store->MaxJournalId(), *max_before + 5);
  Batch update;
  update.export_id = 1;
  update.journal_updates.emplace_back(*max_before + 5, "a2");
  ASSERT_TRUE(store->Commit(update).ok());
  EXPECT_EQ((*store->PendingJournal(10))[0].payload, "a2");
  Batch done;
  done.export_id = 1;
  done.journal_completes.push_back(*max_before + 5);
  ASSERT_TRUE(store->Commit(done).ok());
  EXPECT_TRUE(store->PendingJournal(10)->empty());
  // Ids never go back, even with the journal empty.
  EXPECT_EQ(*store->MaxJournalId(), *max_before + 5);
}

TEST_F(SqliteMetaStoreTest, LocalFlagAndLinksSurviveReopen) {
  {
    auto store = OpenOrDie();
    ASSERT_TRUE(store->OpenExport(1, "e", "b", "").ok());
    InodeRow r;
    r.ino = 5;
    r.generation = 2;
    r.parent = 1;
    r.name = "new";
    r.key = "new";
    r.local = true;
    r.links = {{1, "second name", "dir/second name"}, {7, std::string("x\0y", 3), "k:2"}};
    Batch b;
    b.export_id = 1;
    b.upserts.push_back(r);
    ASSERT_TRUE(store->Commit(b).ok());
  }
  auto store = OpenOrDie();
  auto row = store->GetInode(1, 5);
  ASSERT_TRUE(row.ok() && row->has_value());
  EXPECT_TRUE((*row)->local);
  ASSERT_EQ((*row)->links.size(), 2u);
  EXPECT_EQ((*row)->links[0], (InodeRow::Link{1, "second name", "dir/second name"}));
  EXPECT_EQ((*row)->links[1], (InodeRow::Link{7, std::string("x\0y", 3), "k:2"}));
}

TEST_F(SqliteMetaStoreTest, AsyncStoreCommitsInOrderAndFlushes) {
  auto opened = SqliteMetaStore::Open(path_);
  ASSERT_TRUE(opened.ok());
  std::shared_ptr<MetaStore> store = std::move(opened).value();
  ASSERT_TRUE(store->OpenExport(1, "x", "b", "").ok());
  BlockingPool pool(2);
  {
    AsyncMetaStore async(store, pool);
    for (int i = 0; i < 100; ++i) {
      Batch b;
      b.export_id = 1;
      InodeRow r = File(2, 1, "a", "a");
      r.size = static_cast<uint64_t>(i);
      b.upserts.push_back(r);
      async.Submit(std::move(b));
    }
    async.FlushSync();
    auto row = store->GetInode(1, 2);
    ASSERT_TRUE(row.ok() && row->has_value());
    EXPECT_EQ((*row)->size, 99u);  // the last submitted wins: order kept
    EXPECT_EQ(async.commit_failures(), 0u);
  }
}

TEST_F(SqliteMetaStoreTest, ClientRecordsSurviveReopen) {
  {
    auto store = OpenOrDie();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->PutClientRecord(std::string("linux-a\0x", 9)).ok());
    ASSERT_TRUE(store->PutClientRecord("linux-b").ok());
    ASSERT_TRUE(store->PutClientRecord("linux-b").ok());  // idempotent
    ASSERT_TRUE(store->DeleteClientRecord("gone").ok());  // deleting nothing is fine
  }
  auto store = OpenOrDie();
  ASSERT_TRUE(store);
  auto records = store->ClientRecords();
  ASSERT_TRUE(records.ok());
  EXPECT_EQ(*records, (std::vector<std::string>{std::string("linux-a\0x", 9), "linux-b"}));
  ASSERT_TRUE(store->DeleteClientRecord("linux-b").ok());
  records = store->ClientRecords();
  ASSERT_TRUE(records.ok());
  EXPECT_EQ(records->size(), 1u);
}

}  // namespace
}  // namespace bucketfs::meta
