// The write path of ObjectFileSystem over the fake store: staged writes, uploads (single PUT and
// multipart with server-side part copies), namespace changes with their journaled S3 side, and
// recovery of staged data and pending changes after a restart.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "gateway/object_fs.h"
#include "gateway/testing/fake_object_store.h"
#include "meta/sqlite_meta_store.h"

namespace bucketfs::gateway {
namespace {

using testing::FakeObjectStore;
using namespace std::chrono_literals;

std::string Str(const Bytes& b) { return std::string(b.begin(), b.end()); }
Bytes B(std::string_view s) { return Bytes(s.begin(), s.end()); }

std::string FileText(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Captures what is logged through the default logger while it lives.
class LogCapture {
 public:
  LogCapture() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
};

class ObjectFsWriteTest : public ::testing::Test {
 protected:
  ObjectFsWriteTest()
      : store_(std::make_shared<FakeObjectStore>()),
        dir_(std::filesystem::temp_directory_path() /
             ("bfs-write-" + std::to_string(getpid()) + "-" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name())) {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  ~ObjectFsWriteTest() override {
    fs_.reset();
    meta_.reset();
    std::filesystem::remove_all(dir_);
  }

  // A writable file system; with `persistent`, over a SQLite store in dir_ (a "process").
  void Open(bool persistent = false, uint64_t part_size = uint64_t{5} << 20, bool apply = true) {
    fs_.reset();
    meta_.reset();
    ObjectFsOptions o;
    if (persistent) {
      auto opened = meta::SqliteMetaStore::Open((dir_ / "meta.db").string());
      ASSERT_TRUE(opened.ok()) << opened.status().ToString();
      std::shared_ptr<meta::MetaStore> store = std::move(opened).value();
      auto state = store->OpenExport(1, "data", "bucket", "");
      ASSERT_TRUE(state.ok());
      meta_ = std::make_shared<meta::AsyncMetaStore>(store, pool_);
      o.meta = meta_;
      o.export_id = 1;
      o.export_state = *state;
    }
    o.read_only = false;
    o.staging_dir = (dir_ / "staging").string();
    o.lost_found_dir = lost_found_dir_;
    o.pool = &pool_;
    o.upload.part_size = part_size;
    o.upload_delay = 0ms;
    o.idle_upload = 0ms;  // every Run() drives the S3 side to completion
    o.staging_limit = staging_limit_;
    o.retry_delay = 20ms;
    o.write_verifier = 42;
    o.apply_s3_changes = apply;
    fs_ = std::make_unique<ObjectFileSystem>(store_, std::move(o));
    ASSERT_TRUE(Run(fs_->StartWritePath()).ok());
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

  void Run(Awaitable<void> aw) {
    asio::co_spawn(io_, std::move(aw), asio::detached);
    io_.restart();
    io_.run();
  }

  vfs::Attr Create(vfs::InodeId dir, const std::string& name,
                   vfs::FileType type = vfs::FileType::kRegular, std::string target = "") {
    vfs::CreateRequest req;
    req.type = type;
    req.symlink_target = std::move(target);
    auto r = Run(fs_->Create(dir, name, req));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : vfs::Attr{};
  }
  void Write(vfs::InodeId ino, uint64_t off, std::string_view data,
             vfs::StableHow how = vfs::StableHow::kUnstable) {
    auto r = Run(fs_->Write(ino, off, B(data), how));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->count, data.size());
  }
  std::string ReadAll(vfs::InodeId ino) {
    std::string out;
    for (;;) {
      auto r = Run(fs_->Read(ino, out.size(), 1 << 20));
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      if (!r.ok()) break;
      out += Str(r->data);
      if (r->eof || r->data.empty()) break;
    }
    return out;
  }
  Result<vfs::Attr> Lookup(vfs::InodeId dir, const std::string& name) {
    return Run(fs_->Lookup(dir, name));
  }
  void Drain() { ASSERT_TRUE(Run(fs_->Drain(10s)).ok()); }
  std::string Object(const std::string& key) {
    auto got = Run(store_->Get(key, {}));
    return got.ok() ? Str(got->data) : "<" + got.status().ToString() + ">";
  }
  bool Exists(const std::string& key) { return Run(store_->Head(key)).ok(); }

  asio::io_context io_;
  BlockingPool pool_{2};
  std::shared_ptr<FakeObjectStore> store_;
  std::filesystem::path dir_;
  uint64_t staging_limit_ = uint64_t{1} << 30;
  std::string lost_found_dir_;
  std::shared_ptr<meta::AsyncMetaStore> meta_;
  std::unique_ptr<ObjectFileSystem> fs_;
};

TEST_F(ObjectFsWriteTest, CreateWriteReadBackAndUploadWithPosixMetadata) {
  Open();
  vfs::Attr f = Create(1, "hello.txt");
  Write(f.ino, 0, "hello ");
  Write(f.ino, 6, "world");
  EXPECT_EQ(ReadAll(f.ino), "hello world");
  auto attr = Run(fs_->GetAttr(f.ino));
  ASSERT_TRUE(attr.ok());
  EXPECT_EQ(attr->size, 11u);
  Run(fs_->Closed(f.ino));
  Drain();
  EXPECT_EQ(Object("hello.txt"), "hello world");
  auto head = Run(store_->Head("hello.txt"));
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->user_metadata["mode"], std::to_string(0100644));
  EXPECT_TRUE(head->user_metadata.count("mtime"));
  // After the upload the file is served from the object.
  EXPECT_EQ(ReadAll(f.ino), "hello world");
  EXPECT_EQ(fs_->staged_bytes(), 0u);
  // The gateway's own upload is not a change behind its back, even once revalidated.
  ASSERT_TRUE(Run(fs_->Refresh("hello.txt")).ok());
  auto after = Run(fs_->GetAttr(f.ino));
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->bucket_version, attr->bucket_version);
  store_->PutSync("hello.txt", "changed behind");
  ASSERT_TRUE(Run(fs_->Refresh("hello.txt")).ok());
  EXPECT_GT(Run(fs_->GetAttr(f.ino))->bucket_version, after->bucket_version);
}

// A READ of a file being uploaded reads the unwritten bytes from the object with If-Match; when
// the upload completes meanwhile, it replaces that object: the read starts over, never STALE
// (the Linux client saw ESTALE reading a file it had just written).
Awaitable<void> WriteThenRead(ObjectFileSystem* fs, vfs::InodeId ino, uint64_t off, Bytes data,
                              std::optional<Result<vfs::ReadResult>>* got) {
  auto w = co_await fs->Write(ino, off, std::move(data), vfs::StableHow::kFileSync);
  if (!w.ok()) {
    got->emplace(w.status());
    co_return;
  }
  co_await fs->Closed(ino);
  got->emplace(co_await fs->Read(ino, 0, 1 << 20));
}

TEST_F(ObjectFsWriteTest, ReadsWhileTheUploadCompletesAreNeverStale) {
  Open();
  std::string ref(1 << 20, ' ');
  for (std::size_t i = 0; i < ref.size(); ++i) ref[i] = static_cast<char>('a' + i % 26);
  store_->PutSync("big", ref);
  auto f = Lookup(1, "big");
  ASSERT_TRUE(f.ok());
  for (int round = 0; round < 40; ++round) {
    const uint64_t off = (static_cast<uint64_t>(round) * 7919 * 512) % (ref.size() - 4096);
    const std::string data(4096, static_cast<char>('0' + round % 10));
    ref.replace(off, data.size(), data);
    std::optional<Result<vfs::ReadResult>> got;
    asio::co_spawn(io_, WriteThenRead(fs_.get(), f->ino, off, B(data), &got), asio::detached);
    io_.restart();
    io_.run();
    ASSERT_TRUE(got.has_value());
    ASSERT_TRUE(got->ok()) << "round " << round << ": " << got->status().ToString();
    ASSERT_EQ(Str((*got)->data), ref) << "round " << round;
  }
}

// Waits until the bucket holds an object for `key` other than `etag` (the upload has taken
// effect in S3, its reply is still on the way), then reads [off, off + len) of `ino`.
Awaitable<void> ReadOnceTheBucketHasIt(ObjectFileSystem* fs, FakeObjectStore* store,
                                       std::string key, std::string etag, vfs::InodeId ino,
                                       uint64_t off, uint32_t len,
                                       std::optional<Result<vfs::ReadResult>>* got) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (int i = 0; i < 5000; ++i) {
    auto head = co_await store->Head(key);
    if (head.ok() && head->etag != etag) break;
    timer.expires_after(1ms);
    co_await timer.async_wait(asio::use_awaitable);
  }
  got->emplace(co_await fs->Read(ino, off, len));
}

// The window between S3 applying an upload and the gateway learning of it: a read of bytes the
// client did not write goes to the old object, whose If-Match now fails. That is the gateway's
// own upload, not a change behind its back: the read waits for the upload to be recorded and
// is served, never STALE (a Linux client holding a delegation saw ESTALE here).
TEST_F(ObjectFsWriteTest, ReadWhileS3HasTheUploadButItsReplyIsOnTheWayIsServed) {
  Open();
  std::string ref(256 << 10, ' ');
  for (std::size_t i = 0; i < ref.size(); ++i) ref[i] = static_cast<char>('a' + i % 26);
  store_->PutSync("big", ref);
  const std::string old_etag = Run(store_->Head("big"))->etag;
  auto f = Lookup(1, "big");
  ASSERT_TRUE(f.ok());
  ref.replace(0, 4096, std::string(4096, 'X'));
  store_->set_put_reply_delay(300ms);
  std::optional<Result<vfs::ReadResult>> got, written;
  asio::co_spawn(io_, WriteThenRead(fs_.get(), f->ino, 0, B(std::string(4096, 'X')), &written),
                 asio::detached);
  asio::co_spawn(
      io_,
      ReadOnceTheBucketHasIt(fs_.get(), store_.get(), "big", old_etag, f->ino, 8192, 8192, &got),
      asio::detached);
  io_.restart();
  io_.run();
  ASSERT_TRUE(got.has_value());
  ASSERT_TRUE(got->ok()) << got->status().ToString();
  EXPECT_EQ(Str((*got)->data), ref.substr(8192, 8192));
  ASSERT_TRUE(written.has_value() && written->ok());
  EXPECT_EQ(Str((*written)->data), ref);
  EXPECT_EQ(Object("big"), ref);
}

TEST_F(ObjectFsWriteTest, ReadOnlyAnswersReadOnly) {
  ObjectFsOptions o;  // read_only by default
  ObjectFileSystem ro(store_, o);
  auto r = Run(ro.Create(1, "x", {}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kReadOnly);
}

TEST_F(ObjectFsWriteTest, CreateExistingNameAndExclusiveRetransmission) {
  Open();
  vfs::Attr f = Create(1, "a");
  vfs::CreateRequest again;
  EXPECT_EQ(Run(fs_->Create(1, "a", again)).status().code(), ErrorCode::kExists);
  vfs::CreateRequest excl;
  excl.verifier = 77;
  vfs::Attr e = *Run(fs_->Create(1, "b", excl));
  auto retry = Run(fs_->Create(1, "b", excl));
  ASSERT_TRUE(retry.ok());
  EXPECT_EQ(retry->ino, e.ino);
  excl.verifier = 78;
  EXPECT_EQ(Run(fs_->Create(1, "b", excl)).status().code(), ErrorCode::kExists);
  (void)f;
}

TEST_F(ObjectFsWriteTest, MkdirSymlinkAndNestedFile) {
  Open();
  vfs::Attr d = Create(1, "dir", vfs::FileType::kDirectory);
  EXPECT_EQ(d.type, vfs::FileType::kDirectory);
  vfs::Attr l = Create(d.ino, "link", vfs::FileType::kSymlink, "../target");
  EXPECT_EQ(l.type, vfs::FileType::kSymlink);
  EXPECT_EQ(*Run(fs_->ReadLink(l.ino)), "../target");
  vfs::Attr f = Create(d.ino, "f");
  Write(f.ino, 0, "x");
  Drain();
  EXPECT_TRUE(Exists("dir/"));
  EXPECT_EQ(Object("dir/link"), "../target");
  EXPECT_EQ(Run(store_->Head("dir/link"))->user_metadata["mode"], std::to_string(0120777));
  EXPECT_EQ(Object("dir/f"), "x");
  EXPECT_EQ(*Run(fs_->ReadLink(l.ino)), "../target");
}

TEST_F(ObjectFsWriteTest, RenameFileIsAtomicAndMovesTheObject) {
  store_->PutSync("a.bin", "old bytes");
  Open();
  vfs::Attr a = *Lookup(1, "a.bin");
  ASSERT_TRUE(Run(fs_->Rename(1, "a.bin", 1, "b.bin")).ok());
  EXPECT_EQ(Lookup(1, "a.bin").status().code(), ErrorCode::kNotFound);
  auto b = Lookup(1, "b.bin");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->ino, a.ino);  // the handle survives the rename
  EXPECT_EQ(ReadAll(a.ino), "old bytes");
  Drain();
  EXPECT_FALSE(Exists("a.bin"));
  EXPECT_EQ(Object("b.bin"), "old bytes");
  EXPECT_EQ(ReadAll(a.ino), "old bytes");
}

TEST_F(ObjectFsWriteTest, WriteTempThenRenameOverExistingCostsNoCopyOfTheTemp) {
  store_->PutSync("model.pt", "version 1");
  Open();
  vfs::Attr tmp = Create(1, "model.pt.tmp");
  Write(tmp.ino, 0, "version 2", vfs::StableHow::kFileSync);
  ASSERT_TRUE(Run(fs_->Rename(1, "model.pt.tmp", 1, "model.pt")).ok());
  EXPECT_EQ(ReadAll(Lookup(1, "model.pt")->ino), "version 2");
  Run(fs_->Closed(tmp.ino));
  Drain();
  EXPECT_EQ(Object("model.pt"), "version 2");
  EXPECT_FALSE(Exists("model.pt.tmp"));
  std::vector<std::string> names;
  auto page = Run(fs_->ReadDir(1, 0, 100));
  for (auto& e : page->entries) names.push_back(e.name);
  EXPECT_EQ(names, std::vector<std::string>{"model.pt"});
}

TEST_F(ObjectFsWriteTest, RenameDirectoryMovesEveryObject) {
  for (int i = 0; i < 30; ++i)
    store_->PutSync("d/f" + std::to_string(i), "data" + std::to_string(i));
  store_->PutSync("d/sub/x", "deep");
  Open();
  vfs::Attr d = *Lookup(1, "d");
  ASSERT_TRUE(Run(fs_->Rename(1, "d", 1, "e")).ok());
  EXPECT_EQ(Lookup(1, "d").status().code(), ErrorCode::kNotFound);
  auto f7 = Lookup(d.ino, "f7");
  ASSERT_TRUE(f7.ok());
  EXPECT_EQ(ReadAll(f7->ino), "data7");
  Drain();
  for (int i = 0; i < 30; ++i) {
    EXPECT_FALSE(Exists("d/f" + std::to_string(i)));
    EXPECT_EQ(Object("e/f" + std::to_string(i)), "data" + std::to_string(i));
  }
  EXPECT_EQ(Object("e/sub/x"), "deep");
  auto sub = Lookup(d.ino, "sub");
  ASSERT_TRUE(sub.ok());
  EXPECT_EQ(ReadAll(Lookup(sub->ino, "x")->ino), "deep");
}

TEST_F(ObjectFsWriteTest, RenameRulesAndRemove) {
  store_->PutSync("d/x", "1");
  store_->PutSync("f", "2");
  Open();
  vfs::Attr d = *Lookup(1, "d");
  vfs::Attr e = Create(1, "empty", vfs::FileType::kDirectory);
  EXPECT_EQ(Run(fs_->Rename(1, "f", 1, "d")).code(), ErrorCode::kIsDir);
  EXPECT_EQ(Run(fs_->Rename(1, "d", 1, "f")).code(), ErrorCode::kNotDir);
  EXPECT_EQ(Run(fs_->Rename(1, "empty", 1, "d")).code(), ErrorCode::kNotEmpty);
  EXPECT_EQ(Run(fs_->Rename(1, "d", d.ino, "inner")).code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(Run(fs_->Rename(1, "d", 1, "empty")).ok());  // over an empty directory
  EXPECT_EQ(Run(fs_->Remove(1, "empty")).code(), ErrorCode::kNotEmpty);
  EXPECT_TRUE(Run(fs_->Remove(d.ino, "x")).ok());
  EXPECT_TRUE(Run(fs_->Remove(1, "empty")).ok());
  EXPECT_EQ(Run(fs_->Remove(1, "nope")).code(), ErrorCode::kNotFound);
  Drain();
  EXPECT_FALSE(Exists("d/x"));
  EXPECT_FALSE(Exists("empty/x"));
  EXPECT_EQ(Object("f"), "2");
  (void)e;
}

TEST_F(ObjectFsWriteTest, ReadDirCookiesStayValidWhileEntriesComeAndGo) {
  Open();
  for (int i = 0; i < 10; ++i) Create(1, "n" + std::to_string(i));
  auto first = Run(fs_->ReadDir(1, 0, 4));
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->entries.size(), 4u);
  ASSERT_TRUE(Run(fs_->Remove(1, "n1")).ok());
  Create(1, "zz");
  auto rest = Run(fs_->ReadDir(1, first->entries.back().cookie, 100));
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(rest->verifier, first->verifier);
  std::vector<std::string> names;
  for (auto& e : rest->entries) names.push_back(e.name);
  EXPECT_EQ(names, (std::vector<std::string>{"n4", "n5", "n6", "n7", "n8", "n9", "zz"}));
}

TEST_F(ObjectFsWriteTest, RandomWriteIntoLargeObjectResendsOnlyTouchedParts) {
  std::string big(uint64_t{23} << 20, '\0');
  std::mt19937 rng(7);
  for (auto& c : big) c = static_cast<char>(rng());
  store_->PutSync("big", big);
  Open(false, uint64_t{5} << 20);
  vfs::Attr f = *Lookup(1, "big");
  std::string patch(4096, 'Z');
  store_->ResetCounts();
  Write(f.ino, (uint64_t{12} << 20) + 100, patch);
  big.replace((uint64_t{12} << 20) + 100, patch.size(), patch);
  auto mid = Run(fs_->Read(f.ino, (uint64_t{12} << 20), 8192));
  ASSERT_TRUE(mid.ok());
  EXPECT_EQ(Str(mid->data), big.substr(uint64_t{12} << 20, 8192));
  Run(fs_->Closed(f.ino));
  Drain();
  EXPECT_EQ(Object("big"), big);
  // 5 parts: one sent, four copied server-side.
  EXPECT_EQ(store_->count(FakeObjectStore::Op::kUploadPart), 1u);
  EXPECT_EQ(store_->count(FakeObjectStore::Op::kUploadPartCopy), 4u);
}

TEST_F(ObjectFsWriteTest, WholeFileCopyIsServerSide) {
  store_->PutSync("src.bin", std::string(3000, 'q'));
  Open();
  vfs::Attr src = *Lookup(1, "src.bin");
  vfs::Attr dst = Create(1, "dst.bin");
  store_->ResetCounts();
  auto n = Run(fs_->CopyRange(src.ino, 0, dst.ino, 0, 0));
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 3000u);
  EXPECT_EQ(store_->count(FakeObjectStore::Op::kCopy), 1u);
  EXPECT_EQ(store_->count(FakeObjectStore::Op::kGet), 0u);
  EXPECT_EQ(ReadAll(dst.ino), std::string(3000, 'q'));
  Drain();
  EXPECT_EQ(Object("dst.bin"), std::string(3000, 'q'));
  EXPECT_EQ(store_->count(FakeObjectStore::Op::kPut), 0u);  // the empty file's upload is superseded
  // A partial copy goes through the gateway.
  vfs::Attr part = Create(1, "part.bin");
  ASSERT_EQ(*Run(fs_->CopyRange(src.ino, 1000, part.ino, 0, 500)), 500u);
  EXPECT_EQ(ReadAll(part.ino), std::string(500, 'q'));
}

TEST_F(ObjectFsWriteTest, HardLinksShareOneInodeAndKeepEveryKeyEqual) {
  store_->PutSync("d/keep", "x");
  Open();
  vfs::Attr d = *Lookup(1, "d");
  vfs::Attr f = Create(1, "f");
  Write(f.ino, 0, "linked bytes");
  auto l = Run(fs_->Link(f.ino, d.ino, "g"));
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  EXPECT_EQ(l->ino, f.ino);
  EXPECT_EQ(l->nlink, 2u);
  EXPECT_EQ(Run(fs_->Link(f.ino, d.ino, "g")).status().code(), ErrorCode::kExists);
  EXPECT_EQ(Run(fs_->Link(d.ino, 1, "dirlink")).status().code(), ErrorCode::kIsDir);
  EXPECT_EQ(Lookup(d.ino, "g")->ino, f.ino);
  Write(f.ino, 0, "LINKED");  // through either name: one file
  EXPECT_EQ(ReadAll(Lookup(d.ino, "g")->ino), "LINKED bytes");
  Run(fs_->Closed(f.ino));
  Drain();
  EXPECT_EQ(Object("f"), "LINKED bytes");
  EXPECT_EQ(Object("d/g"), "LINKED bytes");
  // Renaming one name moves its object; the other stays.
  ASSERT_TRUE(Run(fs_->Rename(d.ino, "g", d.ino, "h")).ok());
  Drain();
  EXPECT_FALSE(Exists("d/g"));
  EXPECT_EQ(Object("d/h"), "LINKED bytes");
  EXPECT_EQ(Object("f"), "LINKED bytes");
  // Removing the first name: the other name carries the file on.
  ASSERT_TRUE(Run(fs_->Remove(1, "f")).ok());
  EXPECT_EQ(Lookup(1, "f").status().code(), ErrorCode::kNotFound);
  auto h = Lookup(d.ino, "h");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->ino, f.ino);
  EXPECT_EQ(h->nlink, 1u);
  EXPECT_EQ(ReadAll(h->ino), "LINKED bytes");
  Drain();
  EXPECT_FALSE(Exists("f"));
  EXPECT_EQ(Object("d/h"), "LINKED bytes");
  // Writing after the takeover goes to the remaining key.
  Write(h->ino, 0, "again");
  Run(fs_->Closed(h->ino));
  Drain();
  EXPECT_EQ(Object("d/h"), "againD bytes");
  ASSERT_TRUE(Run(fs_->Remove(d.ino, "h")).ok());
  Drain();
  EXPECT_FALSE(Exists("d/h"));
}

TEST_F(ObjectFsWriteTest, HardLinksSurviveARestart) {
  Open(/*persistent=*/true);
  vfs::Attr f = Create(1, "a");
  Write(f.ino, 0, "data", vfs::StableHow::kFileSync);
  ASSERT_TRUE(Run(fs_->Link(f.ino, 1, "b")).ok());
  Run(fs_->Closed(f.ino));
  Drain();
  meta_->FlushSync();
  Open(/*persistent=*/true);
  auto b = Lookup(1, "b");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->ino, f.ino);
  EXPECT_EQ(b->nlink, 2u);
  EXPECT_EQ(ReadAll(b->ino), "data");
}

TEST_F(ObjectFsWriteTest, TruncateExtendChmodChownUtimes) {
  store_->PutSync("f", "0123456789");
  Open();
  vfs::Attr f = *Lookup(1, "f");
  vfs::SetAttrRequest shrink;
  shrink.size = 4;
  EXPECT_EQ(Run(fs_->SetAttr(f.ino, shrink))->size, 4u);
  EXPECT_EQ(ReadAll(f.ino), "0123");
  vfs::SetAttrRequest grow;
  grow.size = 8;
  ASSERT_TRUE(Run(fs_->SetAttr(f.ino, grow)).ok());
  EXPECT_EQ(ReadAll(f.ino), std::string("0123") + std::string(4, '\0'));
  vfs::SetAttrRequest attrs;
  attrs.mode = 0600;
  attrs.uid = 1000;
  attrs.gid = 2000;
  attrs.mtime = vfs::Timespec{1'600'000'000, 0};
  auto a = Run(fs_->SetAttr(f.ino, attrs));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->mode, 0600u);
  EXPECT_EQ(a->uid, 1000u);
  EXPECT_EQ(a->gid, 2000u);
  EXPECT_EQ(a->mtime.sec, 1'600'000'000);
  Run(fs_->Closed(f.ino));
  Drain();
  auto head = Run(store_->Head("f"));
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(Object("f"), std::string("0123") + std::string(4, '\0'));
  EXPECT_EQ(head->user_metadata["mode"], std::to_string(0100600));
  EXPECT_EQ(head->user_metadata["uid"], "1000");
  EXPECT_EQ(head->user_metadata["gid"], "2000");
  EXPECT_EQ(head->user_metadata["mtime"], "1600000000");
  auto after = Run(fs_->GetAttr(f.ino));
  EXPECT_EQ(after->mode, 0600u);
  EXPECT_EQ(after->mtime.sec, 1'600'000'000);
}

TEST_F(ObjectFsWriteTest, FullStagingAreaAsksClientsToRetry) {
  staging_limit_ = 8;
  Open();
  vfs::Attr f = Create(1, "f");
  auto r = Run(fs_->Write(f.ino, 0, B("0123456789abcdef"), vfs::StableHow::kUnstable));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kUnavailable);
}

TEST_F(ObjectFsWriteTest, UploadFailuresAreRetriedNotLost) {
  Open();
  vfs::Attr f = Create(1, "f");
  store_->FailNext(FakeObjectStore::Op::kPut, UnavailableError("503 SlowDown"), 2);
  store_->ResetCounts();
  Write(f.ino, 0, "payload", vfs::StableHow::kFileSync);
  Run(fs_->Closed(f.ino));
  // Two PUTs fail; the retry after them succeeds.
  ASSERT_TRUE(Run(fs_->Drain(20s)).ok());
  EXPECT_EQ(Object("f"), "payload");
  EXPECT_EQ(store_->count(FakeObjectStore::Op::kPut), 3u);
}

// rmdir / unlink while the PUT of the marker or file is still in flight: the DELETE waits for
// that PUT, so nothing comes back (a marker left behind resurrected the directory).
TEST_F(ObjectFsWriteTest, RemoveDuringTheUploadLeavesNothingBehind) {
  Open();
  ASSERT_TRUE(Lookup(1, "x").status().code() == ErrorCode::kNotFound);  // root listed
  store_->set_latency(100ms);
  auto race = [this]() -> Awaitable<Status> {
    auto pause = [](std::chrono::milliseconds d) -> Awaitable<void> {
      asio::steady_timer t(co_await asio::this_coro::executor, d);
      co_await t.async_wait(asio::use_awaitable);
    };
    vfs::CreateRequest dir_req;
    dir_req.type = vfs::FileType::kDirectory;
    BFS_CO_RETURN_IF_ERROR((co_await fs_->Create(1, "d", dir_req)).status());
    co_await pause(30ms);  // the marker PUT is running now
    BFS_CO_RETURN_IF_ERROR(co_await fs_->Remove(1, "d"));
    vfs::CreateRequest file_req;
    BFS_CO_ASSIGN_OR_RETURN(vfs::Attr f, co_await fs_->Create(1, "f", file_req));
    BFS_CO_RETURN_IF_ERROR(
        (co_await fs_->Write(f.ino, 0, B("data"), vfs::StableHow::kFileSync)).status());
    co_await fs_->Closed(f.ino);
    co_await pause(30ms);  // the file's PUT is running now
    BFS_CO_RETURN_IF_ERROR(co_await fs_->Remove(1, "f"));
    co_return co_await fs_->Drain(10s);
  };
  Status s = Run(race());
  ASSERT_TRUE(s.ok()) << s.ToString();
  store_->set_latency(0ms);
  EXPECT_GE(store_->count(FakeObjectStore::Op::kPut), 2u);  // both PUTs did start
  EXPECT_FALSE(Exists("d/"));
  EXPECT_FALSE(Exists("f"));
}

TEST_F(ObjectFsWriteTest, CommittedWritesAndRenamesSurviveACrash) {
  store_->PutSync("old", "moved content");
  Open(/*persistent=*/true, uint64_t{5} << 20, /*apply=*/false);  // S3 unreachable, as it were
  vfs::Attr f = Create(1, "ckpt.tmp");
  Write(f.ino, 0, "committed data");
  ASSERT_TRUE(Run(fs_->Commit(f.ino, 0, 0)).ok());
  ASSERT_TRUE(Run(fs_->Rename(1, "ckpt.tmp", 1, "ckpt")).ok());
  ASSERT_TRUE(Run(fs_->Rename(1, "old", 1, "new")).ok());
  EXPECT_FALSE(Exists("ckpt"));
  EXPECT_FALSE(Exists("new"));
  // "Crash": nothing of it reached S3; restart on the same state.
  meta_->FlushSync();
  fs_.reset();
  Open(/*persistent=*/true);
  auto ck = Lookup(1, "ckpt");
  ASSERT_TRUE(ck.ok()) << ck.status().ToString();
  EXPECT_EQ(ReadAll(ck->ino), "committed data");
  EXPECT_EQ(Lookup(1, "ckpt.tmp").status().code(), ErrorCode::kNotFound);
  Drain();
  EXPECT_EQ(Object("ckpt"), "committed data");
  EXPECT_FALSE(Exists("ckpt.tmp"));
  EXPECT_EQ(Object("new"), "moved content");
  EXPECT_FALSE(Exists("old"));
}

// The staging files (by name) directly in `dir`.
std::vector<std::string> StagingNames(const std::filesystem::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.is_regular_file()) out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The one directory a start kept staged files in, under `lost_found`.
std::filesystem::path KeptDir(const std::filesystem::path& lost_found) {
  std::vector<std::filesystem::path> dirs;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(lost_found, ec)) {
    if (e.is_directory()) dirs.push_back(e.path());
  }
  EXPECT_EQ(dirs.size(), 1u) << lost_found;
  return dirs.empty() ? lost_found : dirs[0];
}

// A damaged meta.db is rebuilt empty: its journal of pending uploads is gone. Staged writes that
// were acknowledged (COMMIT) but not uploaded are kept for the operator, never removed, and the
// start says so loudly; this run's inode numbers do not collide with them.
TEST_F(ObjectFsWriteTest, RebuiltDatabaseKeepsStagedWritesThatWereNotUploaded) {
  lost_found_dir_ = (dir_ / "lost+found").string();
  store_->PutSync("base.bin", "0123456789");
  Open(/*persistent=*/true, uint64_t{5} << 20, /*apply=*/false);  // S3 unreachable, as it were
  vfs::Attr f = Create(1, "report.txt");
  Write(f.ino, 0, "acknowledged but not uploaded", vfs::StableHow::kFileSync);
  auto b = Lookup(1, "base.bin");
  ASSERT_TRUE(b.ok());
  Write(b->ino, 2, "XY");
  ASSERT_TRUE(Run(fs_->Commit(b->ino, 0, 0)).ok());
  meta_->FlushSync();
  fs_.reset();
  meta_.reset();
  {
    std::ofstream db(dir_ / "meta.db", std::ios::binary | std::ios::trunc);
    db << "not a database any more: the disk under it went bad.............................";
  }
  LogCapture log;
  Open(/*persistent=*/true);
  // Nothing was removed: the staged files moved out of the staging directory, with a note.
  EXPECT_TRUE(StagingNames(dir_ / "staging").empty());
  const auto kept = KeptDir(dir_ / "lost+found");
  const std::string f_ino = std::to_string(f.ino), b_ino = std::to_string(b->ino);
  EXPECT_EQ(FileText(kept / (f_ino + ".data")), "acknowledged but not uploaded");
  EXPECT_EQ(FileText(kept / (b_ino + ".data")).substr(2, 2), "XY");
  const std::string note = FileText(kept / "KEPT.txt");
  EXPECT_NE(note.find("damaged and has been rebuilt"), std::string::npos) << note;
  EXPECT_NE(note.find("inode " + f_ino + ": size 29"), std::string::npos) << note;
  EXPECT_NE(note.find(f_ino + ".data is the whole file"), std::string::npos) << note;
  EXPECT_NE(note.find("inode " + b_ino + ": size 10"), std::string::npos) << note;
  EXPECT_NE(note.find("[2,4) are new"), std::string::npos) << note;
  EXPECT_EQ(fs_->write_stats().kept_staged_files, 2u);
  const std::string logged = log.text();
  EXPECT_NE(logged.find("[error]"), std::string::npos) << logged;
  EXPECT_NE(logged.find("kept 2 staged files in " + kept.string()), std::string::npos) << logged;
  EXPECT_NE(logged.find("damaged and has been rebuilt"), std::string::npos) << logged;
  EXPECT_EQ(logged.find("the journal no longer needs"), std::string::npos) << logged;
  // The rebuilt namespace works and hands out inode numbers again without touching them.
  vfs::Attr g = Create(1, "after.txt");
  Write(g.ino, 0, "new run", vfs::StableHow::kFileSync);
  Drain();
  EXPECT_EQ(Object("after.txt"), "new run");
  EXPECT_EQ(Object("base.bin"), "0123456789");  // the kept write was not guessed into S3
  EXPECT_FALSE(Exists("report.txt"));
  EXPECT_EQ(FileText(kept / (f_ino + ".data")), "acknowledged but not uploaded");
  // A later start neither removes nor re-keeps them.
  Open(/*persistent=*/true);
  EXPECT_EQ(FileText(kept / (f_ino + ".data")), "acknowledged but not uploaded");
  EXPECT_EQ(fs_->write_stats().kept_staged_files, 0u);
}

// meta.db deleted by hand (the store starts empty without noticing damage): the same.
TEST_F(ObjectFsWriteTest, DeletedDatabaseKeepsStagedWritesThatWereNotUploaded) {
  Open(/*persistent=*/true, uint64_t{5} << 20, /*apply=*/false);
  vfs::Attr f = Create(1, "x.txt");
  Write(f.ino, 0, "precious", vfs::StableHow::kFileSync);
  meta_->FlushSync();
  fs_.reset();
  meta_.reset();
  for (const char* name : {"meta.db", "meta.db-wal", "meta.db-shm"}) {
    std::filesystem::remove(dir_ / name);
  }
  LogCapture log;
  Open(/*persistent=*/true);
  const auto kept = KeptDir(dir_ / "staging" / "lost+found");  // the default place
  EXPECT_EQ(FileText(kept / (std::to_string(f.ino) + ".data")), "precious");
  EXPECT_NE(log.text().find("has no record of this export"), std::string::npos) << log.text();
  EXPECT_EQ(fs_->write_stats().kept_staged_files, 1u);
}

// With the journal intact, staged files it does not refer to were uploaded (or removed) before
// the crash: they are removed, as before, and nothing is kept.
TEST_F(ObjectFsWriteTest, StagedFilesTheJournalNoLongerNeedsAreRemoved) {
  Open(/*persistent=*/true);
  vfs::Attr f = Create(1, "done.txt");
  Write(f.ino, 0, "uploaded", vfs::StableHow::kFileSync);
  Drain();
  EXPECT_EQ(Object("done.txt"), "uploaded");
  meta_->FlushSync();
  fs_.reset();
  meta_.reset();
  // As if the gateway died after the upload was recorded but before its files were removed.
  const auto staging = dir_ / "staging";
  std::ofstream(staging / (std::to_string(f.ino) + ".data")) << "uploaded";
  std::ofstream(staging / (std::to_string(f.ino) + ".state")) << "bucketfs-staged 1\nsize 8\nend\n";
  LogCapture log;
  Open(/*persistent=*/true);
  EXPECT_TRUE(StagingNames(staging).empty());
  EXPECT_FALSE(std::filesystem::exists(staging / "lost+found"));
  EXPECT_EQ(fs_->write_stats().kept_staged_files, 0u);
  EXPECT_NE(log.text().find("removed 1 staged files the journal no longer needs"),
            std::string::npos)
      << log.text();
}

// A pending upload whose inode the store does not know (the store lost the row) cannot be
// resumed: its committed data is kept rather than removed with the journal entry.
TEST_F(ObjectFsWriteTest, UploadThatCannotBeResumedKeepsItsStagedData) {
  Open(/*persistent=*/true, uint64_t{5} << 20, /*apply=*/false);
  vfs::Attr f = Create(1, "orphan.txt");
  Write(f.ino, 0, "committed", vfs::StableHow::kFileSync);
  meta_->FlushSync();
  fs_.reset();
  meta_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ / "meta.db").c_str(), &db), SQLITE_OK);
  const std::string sql = "DELETE FROM inodes WHERE ino = " + std::to_string(f.ino);
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_close(db);
  LogCapture log;
  Open(/*persistent=*/true);
  const auto kept = KeptDir(dir_ / "staging" / "lost+found");
  EXPECT_EQ(FileText(kept / (std::to_string(f.ino) + ".data")), "committed");
  EXPECT_NE(log.text().find("could not be resumed"), std::string::npos) << log.text();
  EXPECT_EQ(fs_->pending_mutations(), 0u);  // the entry itself is done with
}

}  // namespace
}  // namespace bucketfs::gateway
