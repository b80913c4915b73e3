// The write-path operations through COMPOUNDs over MemoryFs exports: OPEN with create, WRITE,
// COMMIT, CLOSE, SETATTR, CREATE, REMOVE, RENAME, LINK and the 4.2 COPY, SEEK, ALLOCATE,
// DEALLOCATE. The harness export "data" is writable, "other" read-only.
#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

#include "nfs/attrs.h"
#include "nfs/errors.h"
#include "nfs/op_util.h"
#include "nfs/testing/compound_builder.h"
#include "nfs/testing/program_harness.h"

namespace bucketfs::nfs {
namespace {

using testing::CompoundBuilder;
using testing::ReplyReader;

constexpr uint32_t kRead = 1, kWrite = 2, kBoth = 3;
constexpr int kUnchecked = 0, kGuarded = 1, kExclusive = 2, kExclusive41 = 3;

// fattr4 values for SETATTR / createattrs. Call the setters in attribute-number order (size,
// mode, owner, owner_group, time_access_set, time_modify_set): attrlist4 is in bit order.
struct Attrs {
  Bitmap mask;
  xdr::Encoder values;

  Attrs& Size(uint64_t v) {
    mask.Set(fattr::kSize);
    values.WriteU64(v);
    return *this;
  }
  Attrs& Mode(uint32_t v) {
    mask.Set(fattr::kMode);
    values.WriteU32(v);
    return *this;
  }
  Attrs& Owner(std::string_view v) {
    mask.Set(fattr::kOwner);
    values.WriteString(v);
    return *this;
  }
  Attrs& Group(std::string_view v) {
    mask.Set(fattr::kOwnerGroup);
    values.WriteString(v);
    return *this;
  }
  Attrs& AtimeServer() {
    mask.Set(fattr::kTimeAccessSet);
    values.WriteU32(0);
    return *this;
  }
  Attrs& Mtime(int64_t sec, uint32_t nsec) {
    mask.Set(fattr::kTimeModifySet);
    values.WriteU32(1);
    values.WriteI64(sec);
    values.WriteU32(nsec);
    return *this;
  }
};

struct OpenRes {
  StateId sid;
  bool atomic = false;
  uint64_t before = 0, after = 0;
  uint32_t rflags = 0;
  Bitmap attrset;
};

StateId Sid(uint32_t seqid, uint8_t fill) {
  StateId s;
  s.seqid = seqid;
  std::fill(std::begin(s.other), std::end(s.other), fill);
  return s;
}
const StateId kAnonymous{};
const StateId kCurrent = Sid(1, 0);  // 4.1 "current stateid"

class OpsWriteTest : public testing::ProgramHarness, public ::testing::Test {
 protected:
  void SetUp() override {
    fs_->SetClock([this] { return now_; });
    fs_->SetWriteVerifier(0x1122334455667788);
    ASSERT_TRUE(EstablishSession(minor_));
  }

  // SEQUENCE, PUTROOTFH, LOOKUP "data" (and more LOOKUPs).
  CompoundBuilder InData(std::initializer_list<std::string_view> path = {}) {
    CompoundBuilder b(minor_);
    b.Sequence(session_id_, ++seqid_).PutRootFh().Lookup("data");
    for (auto p : path) b.Lookup(p);
    return b;
  }
  ReplyReader Run(const CompoundBuilder& b) { return ReplyReader(Compound(b.Build())); }
  Stat StatusOf(const CompoundBuilder& b) { return Run(b).status(); }

  // Reads the next op result, checks it, and skips the bodies tests never look at.
  static void Next(ReplyReader& r, Op op, Stat want = Stat::kOk) {
    uint32_t got_op = 0;
    Stat got = Stat::kOk;
    ASSERT_TRUE(r.Next(&got_op, &got));
    ASSERT_EQ(got_op, static_cast<uint32_t>(op));
    ASSERT_EQ(got, want) << StatName(got) << " != " << StatName(want);
    if (op == Op::kSequence && got == Stat::kOk) {
      ASSERT_TRUE(r.d().Skip(36));
    }
  }
  // Skips the SEQUENCE, PUTROOTFH and `lookups` LOOKUP results of an InData() COMPOUND.
  static void Prefix(ReplyReader& r, int lookups) {
    Next(r, Op::kSequence);
    Next(r, Op::kPutRootFh);
    for (int i = 0; i < lookups; ++i) Next(r, Op::kLookup);
  }
  static OpenRes ReadOpen(ReplyReader& r) {
    OpenRes o;
    uint32_t deleg = 99;
    EXPECT_TRUE(ReadStateId(r.d(), &o.sid) && r.d().ReadBool(&o.atomic) &&
                r.d().ReadU64(&o.before) && r.d().ReadU64(&o.after) && r.d().ReadU32(&o.rflags) &&
                o.attrset.Decode(r.d()) && r.d().ReadU32(&deleg));
    EXPECT_EQ(deleg, 0u);  // OPEN_DELEGATE_NONE
    return o;
  }

  // OPEN in "data" (after `path`); returns the result, expecting `want`.
  OpenRes Open(std::string_view name, uint32_t access, int how = -1, const Attrs& attrs = Attrs(),
               uint64_t verifier = 0, Stat want = Stat::kOk, std::string_view owner = "owner",
               std::initializer_list<std::string_view> path = {}) {
    CompoundBuilder b = InData(path);
    b.Open(name, access, how, attrs.mask, attrs.values.buffer(), verifier, owner);
    ReplyReader r = Run(b);
    Prefix(r, 1 + static_cast<int>(path.size()));
    OpenRes o;
    Next(r, Op::kOpen, want);
    if (want == Stat::kOk) o = ReadOpen(r);
    return o;
  }

  Result<vfs::Attr> Attr(std::initializer_list<std::string_view> path) {
    vfs::InodeId ino = fs_->RootInode();
    for (auto p : path) {
      auto a = Await(fs_->Lookup(ino, std::string(p)));
      if (!a.ok()) return a;
      ino = a->ino;
    }
    return Await(fs_->GetAttr(ino));
  }
  std::string Data(std::initializer_list<std::string_view> path) {
    auto a = Attr(path);
    return a.ok() ? fs_->Contents(a->ino).value_or("?") : "<missing>";
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

  uint32_t minor_ = 1;
  vfs::Timespec now_{1800000000, 0};
};

// ---- OPEN with create ----

TEST_F(OpsWriteTest, OpenUncheckedCreatesThenOpensExisting) {
  const uint64_t dir_change = Attr({})->change;
  OpenRes o = Open("new.txt", kBoth, kUnchecked, Attrs().Mode(0600));
  EXPECT_FALSE(o.atomic);
  EXPECT_EQ(o.before, dir_change);
  EXPECT_NE(o.after, o.before);
  EXPECT_EQ(o.attrset, (Bitmap{fattr::kMode}));
  auto attr = Attr({"new.txt"});
  ASSERT_TRUE(attr.ok());
  EXPECT_EQ(attr->mode, 0600u);
  EXPECT_EQ(attr->uid, 1000u);  // the caller (AUTH_SYS uid 1000)
  EXPECT_EQ(attr->size, 0u);

  // Existing: opened, createattrs not applied, directory unchanged.
  OpenRes again = Open("new.txt", kRead, kUnchecked, Attrs().Mode(0644));
  EXPECT_TRUE(again.attrset.Empty());
  EXPECT_EQ(again.before, again.after);
  EXPECT_EQ(Attr({"new.txt"})->mode, 0600u);
}

TEST_F(OpsWriteTest, OpenUncheckedWithSizeZeroTruncatesExisting) {
  Open("hello.txt", kRead, kUnchecked, Attrs().Size(0), 0, Stat::kInval);  // needs write access
  EXPECT_EQ(Data({"hello.txt"}), "hello world\n");
  OpenRes o = Open("hello.txt", kBoth, kUnchecked, Attrs().Size(0));
  EXPECT_EQ(o.attrset, (Bitmap{fattr::kSize}));
  EXPECT_EQ(Data({"hello.txt"}), "");
}

TEST_F(OpsWriteTest, OpenGuardedOnExistingIsExist) {
  Open("hello.txt", kBoth, kGuarded, Attrs(), 0, Stat::kExist);
  Open("fresh", kBoth, kGuarded);
  EXPECT_TRUE(Attr({"fresh"}).ok());
}

TEST_F(OpsWriteTest, OpenExclusiveRetransmissionAndOtherVerifier) {
  OpenRes first = Open("excl", kBoth, kExclusive, Attrs(), 0xabcdef);
  EXPECT_TRUE(first.attrset.Empty());  // the verifier is not kept in an attribute
  const auto ino = Attr({"excl"})->ino;
  OpenRes again = Open("excl", kBoth, kExclusive, Attrs(), 0xabcdef);
  EXPECT_TRUE(again.attrset.Empty());
  EXPECT_EQ(Attr({"excl"})->ino, ino);
  Open("excl", kBoth, kExclusive, Attrs(), 0x123, Stat::kExist);
  Open("hello.txt", kBoth, kExclusive, Attrs(), 0xabcdef, Stat::kExist);
}

TEST_F(OpsWriteTest, OpenExclusive41SetsAttributes) {
  OpenRes o = Open("x41", kBoth, kExclusive41, Attrs().Mode(0640), 77);
  EXPECT_EQ(o.attrset, (Bitmap{fattr::kMode}));
  EXPECT_EQ(Attr({"x41"})->mode, 0640u);
  Open("x41", kBoth, kExclusive41, Attrs().Mode(0640), 77);  // retransmission
  // Not a createmode4 of 4.0.
  CompoundBuilder b(0);
  b.PutRootFh().Lookup("data").Open("y", kBoth, kExclusive41, Bitmap(), {}, 1);
  EXPECT_EQ(StatusOf(b), Stat::kBadXdr);
}

TEST_F(OpsWriteTest, OpenTypeAndNameChecks) {
  Open("docs", kRead, -1, Attrs(), 0, Stat::kIsDir);
  Open("link", kRead, -1, Attrs(), 0, Stat::kSymlink);
  Open("docs", kBoth, kUnchecked, Attrs(), 0, Stat::kIsDir);
  Open("", kBoth, kUnchecked, Attrs(), 0, Stat::kInval);
  Open("a/b", kBoth, kUnchecked, Attrs(), 0, Stat::kBadName);
  Open(std::string(256, 'n'), kBoth, kUnchecked, Attrs(), 0, Stat::kNameTooLong);
  Open("t", kBoth, kUnchecked, Attrs().Owner("alice"), 0, Stat::kBadOwner);
  Attrs acl;
  acl.mask.Set(fattr::kAcl);
  Open("t", kBoth, kUnchecked, acl, 0, Stat::kAttrNotSupp);
}

TEST_F(OpsWriteTest, OpenChecksPermissions) {
  fs_->SetOwner(hello_, 2000, 2000);  // 0644, someone else's: we may read, not write
  Open("hello.txt", kRead);
  Open("hello.txt", kBoth, -1, Attrs(), 0, Stat::kAccess);
  fs_->SetOwner(docs_, 2000, 2000);  // 0755 directory of someone else: no new names
  Open("new", kBoth, kUnchecked, Attrs(), 0, Stat::kAccess, "owner", {"docs"});
  Open("f01", kRead, kUnchecked, Attrs(), 0, Stat::kOk, "owner", {"docs"});  // exists: no create
}

// ---- WRITE, READ back, COMMIT, CLOSE ----

TEST_F(OpsWriteTest, WriteReadBackAndCommitVerifier) {
  CompoundBuilder b = InData();
  b.Open("w.txt", kBoth, kUnchecked)
      .Write(kCurrent, 0, kUnstable4, "hello")
      .Write(kCurrent, 10, kFileSync4, "x")
      .Write(kCurrent, 3, kUnstable4, "")
      .Read(kCurrent, 0, 100)
      .Commit(0, 0);
  ReplyReader r = Run(b);
  ASSERT_EQ(r.status(), Stat::kOk);
  Prefix(r, 1);
  Next(r, Op::kOpen);
  ReadOpen(r);
  uint32_t count = 0, committed = 0;
  uint64_t verf = 0;
  Next(r, Op::kWrite);
  ASSERT_TRUE(r.d().ReadU32(&count) && r.d().ReadU32(&committed) && r.d().ReadU64(&verf));
  EXPECT_EQ(count, 5u);
  EXPECT_EQ(committed, kUnstable4);
  EXPECT_EQ(verf, 0x1122334455667788u);
  Next(r, Op::kWrite);
  ASSERT_TRUE(r.d().ReadU32(&count) && r.d().ReadU32(&committed) && r.d().ReadU64(&verf));
  EXPECT_EQ(count, 1u);
  EXPECT_EQ(committed, kFileSync4);
  Next(r, Op::kWrite);  // zero-length write: OK, count 0
  ASSERT_TRUE(r.d().ReadU32(&count) && r.d().ReadU32(&committed) && r.d().ReadU64(&verf));
  EXPECT_EQ(count, 0u);
  Next(r, Op::kRead);
  bool eof = false;
  std::string data;
  ASSERT_TRUE(r.d().ReadBool(&eof) && r.d().ReadString(1000, &data));
  EXPECT_TRUE(eof);
  EXPECT_EQ(data, std::string("hello\0\0\0\0\0x", 11));
  Next(r, Op::kCommit);
  ASSERT_TRUE(r.d().ReadU64(&verf));
  EXPECT_EQ(verf, 0x1122334455667788u);
  EXPECT_EQ(fs_->commit_count(Attr({"w.txt"})->ino), 1);
}

TEST_F(OpsWriteTest, WriteWithReadOnlyOpenIsOpenMode) {
  CompoundBuilder b = InData();
  b.Open("hello.txt", kRead).Write(kCurrent, 0, kUnstable4, "HELLO");
  ReplyReader r = Run(b);
  EXPECT_EQ(r.status(), Stat::kOpenMode);
  EXPECT_EQ(Data({"hello.txt"}), "hello world\n");
  // The READ bypass stateid in a WRITE is the anonymous one (RFC 8881 §8.2.3; pynfs WRT2).
  CompoundBuilder bypass = InData({"hello.txt"});
  bypass.Write(Sid(0xffffffff, 0xff), 0, kDataSync4, "H");
  EXPECT_EQ(StatusOf(bypass), Stat::kOk);
  EXPECT_EQ(Data({"hello.txt"}), "Hello world\n");
}

TEST_F(OpsWriteTest, WriteTypeAndPermissionChecks) {
  CompoundBuilder dir = InData({"docs"});
  dir.Write(kAnonymous, 0, kUnstable4, "x");
  EXPECT_EQ(StatusOf(dir), Stat::kIsDir);
  CompoundBuilder link = InData({"link"});
  link.Write(kAnonymous, 0, kUnstable4, "x");
  EXPECT_EQ(StatusOf(link), Stat::kInval);
  CompoundBuilder commit_dir = InData({"docs"});
  commit_dir.Commit();
  EXPECT_EQ(StatusOf(commit_dir), Stat::kIsDir);
  // The anonymous stateid: the caller's permissions decide.
  CompoundBuilder ok = InData({"hello.txt"});
  ok.Write(kAnonymous, 0, kFileSync4, "J");
  EXPECT_EQ(StatusOf(ok), Stat::kOk);
  EXPECT_EQ(Data({"hello.txt"}), "Jello world\n");
  fs_->SetOwner(hello_, 2000, 2000);
  CompoundBuilder denied = InData({"hello.txt"});
  denied.Write(kAnonymous, 0, kFileSync4, "Y");
  EXPECT_EQ(StatusOf(denied), Stat::kAccess);
  // Past the largest file size.
  CompoundBuilder big = InData({"hello.txt"});
  call_.sys.uid = 0;
  big.Write(kAnonymous, kMaxFileBytes, kFileSync4, "x");
  EXPECT_EQ(StatusOf(big), Stat::kFBig);
}

// A stateid is no capability (pynfs WRT19): another user presenting uid 1000's open stateid of
// a 0600 file can neither write nor read it; the owner can, even when the mode forbids it.
TEST_F(OpsWriteTest, AnotherUsersOpenStateIdGrantsNoAccess) {
  fs_->AddFile(1, "secret", "classified", 0600);
  ASSERT_EQ(call_.sys.uid, 1000u);
  fs_->SetOwner(Attr({"secret"})->ino, 1000, 1000);
  OpenRes mine = Open("secret", kBoth);
  call_.sys.uid = 2000;
  call_.sys.gid = 2000;
  CompoundBuilder write = InData({"secret"});
  write.Write(mine.sid, 0, kFileSync4, "leaked");
  EXPECT_EQ(StatusOf(write), Stat::kAccess);
  CompoundBuilder read = InData({"secret"});
  read.Read(mine.sid, 0, 100);
  EXPECT_EQ(StatusOf(read), Stat::kAccess);
  CompoundBuilder anonymous = InData({"secret"});
  anonymous.Read(kAnonymous, 0, 100);
  EXPECT_EQ(StatusOf(anonymous), Stat::kAccess);
  EXPECT_EQ(Data({"secret"}), "classified");
  // The owner passes whatever the mode (a file created read-only is still written by its
  // creator).
  call_.sys.uid = 1000;
  call_.sys.gid = 1000;
  fs_->AddFile(1, "readonly", "r", 0400);
  fs_->SetOwner(Attr({"readonly"})->ino, 1000, 1000);
  CompoundBuilder owner = InData({"readonly"});
  owner.Write(kAnonymous, 0, kFileSync4, "w").Read(kAnonymous, 0, 10);
  EXPECT_EQ(StatusOf(owner), Stat::kOk);
  EXPECT_EQ(Data({"readonly"}), "w");
}

TEST_F(OpsWriteTest, CloseOfTheLastOpenTellsTheFileSystem) {
  OpenRes a = Open("hello.txt", kBoth, -1, Attrs(), 0, Stat::kOk, "owner-a");
  OpenRes b = Open("hello.txt", kRead, -1, Attrs(), 0, Stat::kOk, "owner-b");
  CompoundBuilder ca = InData({"hello.txt"});
  ca.Close(a.sid);
  EXPECT_EQ(StatusOf(ca), Stat::kOk);
  EXPECT_EQ(fs_->closed_count(hello_), 0);  // owner-b still has it open
  CompoundBuilder cb = InData({"hello.txt"});
  cb.Close(b.sid);
  EXPECT_EQ(StatusOf(cb), Stat::kOk);
  EXPECT_EQ(fs_->closed_count(hello_), 1);
}

// ---- SETATTR ----

TEST_F(OpsWriteTest, SetAttrGuardedByVerifyOfChange) {
  const uint64_t change = Attr({"hello.txt"})->change;
  auto guarded = [&](uint64_t expected) {
    CompoundBuilder b = InData({"hello.txt"});
    b.Op(Op::kVerify);
    Bitmap{fattr::kChange}.Encode(b.args());
    xdr::Encoder v;
    v.WriteU64(expected);
    b.args().WriteOpaque(v.buffer());
    Attrs mode;
    mode.Mode(0600);
    b.SetAttr(kAnonymous, mode.mask, mode.values.buffer());
    return StatusOf(b);
  };
  EXPECT_EQ(guarded(change + 1000), Stat::kNotSame);
  EXPECT_EQ(Attr({"hello.txt"})->mode, 0644u);
  EXPECT_EQ(guarded(change), Stat::kOk);
  EXPECT_EQ(Attr({"hello.txt"})->mode, 0600u);
  EXPECT_NE(Attr({"hello.txt"})->change, change);
  EXPECT_EQ(guarded(change), Stat::kNotSame);  // the change attribute moved
}

TEST_F(OpsWriteTest, SetAttrTruncateAndExtend) {
  auto set_size = [&](uint64_t size, const StateId& sid, Bitmap* set = nullptr) {
    CompoundBuilder b = InData({"hello.txt"});
    Attrs a;
    a.Size(size);
    b.SetAttr(sid, a.mask, a.values.buffer());
    ReplyReader r = Run(b);
    Prefix(r, 2);
    uint32_t op;
    Stat st;
    EXPECT_TRUE(r.Next(&op, &st));
    Bitmap got;
    EXPECT_TRUE(got.Decode(r.d()));  // attrsset on success and on error
    if (set) *set = got;
    return st;
  };
  Bitmap set;
  const vfs::Timespec mtime_before = Attr({"hello.txt"})->mtime;
  now_.sec += 10;
  EXPECT_EQ(set_size(5, kAnonymous, &set), Stat::kOk);
  EXPECT_EQ(set, (Bitmap{fattr::kSize}));
  EXPECT_EQ(Data({"hello.txt"}), "hello");
  EXPECT_NE(Attr({"hello.txt"})->mtime, mtime_before);
  EXPECT_EQ(Attr({"hello.txt"})->ctime, now_);
  EXPECT_EQ(set_size(8, kAnonymous), Stat::kOk);
  EXPECT_EQ(Data({"hello.txt"}), std::string("hello\0\0\0", 8));
  EXPECT_EQ(set_size(kMaxFileBytes + 1, kAnonymous, &set), Stat::kFBig);
  EXPECT_TRUE(set.Empty());
  // A read-only open cannot change the size.
  OpenRes ro = Open("hello.txt", kRead);
  EXPECT_EQ(set_size(0, ro.sid), Stat::kOpenMode);
  OpenRes rw = Open("hello.txt", kBoth, -1, Attrs(), 0, Stat::kOk, "writer");
  EXPECT_EQ(set_size(0, rw.sid), Stat::kOk);
  EXPECT_EQ(Data({"hello.txt"}), "");

  CompoundBuilder dir = InData({"docs"});
  Attrs a;
  a.Size(0);
  dir.SetAttr(kAnonymous, a.mask, a.values.buffer());
  EXPECT_EQ(StatusOf(dir), Stat::kIsDir);
}

TEST_F(OpsWriteTest, SetAttrChmodChownUtimes) {
  auto setattr = [&](const Attrs& a) {
    CompoundBuilder b = InData({"hello.txt"});
    b.SetAttr(kAnonymous, a.mask, a.values.buffer());
    return StatusOf(b);
  };
  EXPECT_EQ(setattr(Attrs().Mode(0751)), Stat::kOk);
  EXPECT_EQ(Attr({"hello.txt"})->mode, 0751u);
  // Owner to someone else: only root (chown_restricted); a group of ours: the owner may.
  EXPECT_EQ(setattr(Attrs().Owner("2000")), Stat::kPerm);
  call_.sys.gids = {1000, 50};
  EXPECT_EQ(setattr(Attrs().Group("50@example.com")), Stat::kOk);
  EXPECT_EQ(Attr({"hello.txt"})->gid, 50u);
  EXPECT_EQ(setattr(Attrs().Group("51")), Stat::kPerm);
  call_.sys.uid = 0;
  EXPECT_EQ(setattr(Attrs().Owner("2000@example.com").Group("2001")), Stat::kOk);
  EXPECT_EQ(Attr({"hello.txt"})->uid, 2000u);
  EXPECT_EQ(Attr({"hello.txt"})->gid, 2001u);
  EXPECT_EQ(setattr(Attrs().Owner("nobody")), Stat::kBadOwner);
  EXPECT_EQ(setattr(Attrs().Owner("")), Stat::kBadOwner);
  EXPECT_EQ(setattr(Attrs().Owner("4294967296")), Stat::kBadOwner);
  // Times: a client time, the server's time.
  now_ = {1900000000, 42};
  EXPECT_EQ(setattr(Attrs().AtimeServer().Mtime(1234, 5)), Stat::kOk);
  EXPECT_EQ(Attr({"hello.txt"})->mtime, (vfs::Timespec{1234, 5}));
  EXPECT_EQ(Attr({"hello.txt"})->atime, now_);
  EXPECT_EQ(setattr(Attrs().Mtime(1, 1000000000)), Stat::kInval);
  // Not the owner, not root: PERM for a client time.
  call_.sys.uid = 1000;
  EXPECT_EQ(setattr(Attrs().Mtime(1, 0)), Stat::kPerm);
}

TEST_F(OpsWriteTest, SetAttrRefusesUnsupportedAndReadOnlyAttributes) {
  auto setattr = [&](uint32_t bit, Bitmap* set) {
    CompoundBuilder b = InData({"hello.txt"});
    xdr::Encoder v;
    v.WriteU32(0);
    b.SetAttr(kAnonymous, Bitmap{bit}, v.buffer());
    ReplyReader r = Run(b);
    Prefix(r, 2);
    uint32_t op;
    Stat st;
    EXPECT_TRUE(r.Next(&op, &st));
    EXPECT_TRUE(set->Decode(r.d()));
    return st;
  };
  Bitmap set{1};
  EXPECT_EQ(setattr(fattr::kAcl, &set), Stat::kAttrNotSupp);
  EXPECT_TRUE(set.Empty());
  EXPECT_EQ(setattr(fattr::kType, &set), Stat::kInval);
  EXPECT_EQ(setattr(fattr::kChange, &set), Stat::kInval);
  EXPECT_EQ(setattr(fattr::kTimeModify, &set), Stat::kInval);
  // Malformed values: BADXDR, and SETATTR4res still carries an (empty) attrsset.
  CompoundBuilder b = InData({"hello.txt"});
  b.SetAttr(kAnonymous, Bitmap{fattr::kSize}, Bytes{0, 0, 0, 1});
  ReplyReader r = Run(b);
  EXPECT_EQ(r.status(), Stat::kBadXdr);
  Prefix(r, 2);
  Next(r, Op::kSetAttr, Stat::kBadXdr);
  Bitmap empty{3};
  EXPECT_TRUE(empty.Decode(r.d()));
  EXPECT_TRUE(empty.Empty());
}

// ---- CREATE, REMOVE, RENAME, LINK ----

TEST_F(OpsWriteTest, CreateDirectoryAndSymlinkThenReadLink) {
  const uint32_t root_links = Attr({})->nlink;
  CompoundBuilder b = InData();
  Attrs mode;
  mode.Mode(0700);
  b.Create(2, "sub", "", mode.mask, mode.values.buffer())
      .GetAttr(Bitmap{fattr::kType, fattr::kMode})
      .Create(5, "ln", "target/path")
      .ReadLink();
  ReplyReader r = Run(b);
  ASSERT_EQ(r.status(), Stat::kOk);
  Prefix(r, 1);
  Next(r, Op::kCreate);
  bool atomic = true;
  uint64_t before = 0, after = 0;
  Bitmap attrset;
  ASSERT_TRUE(r.d().ReadBool(&atomic) && r.d().ReadU64(&before) && r.d().ReadU64(&after) &&
              attrset.Decode(r.d()));
  EXPECT_NE(before, after);
  EXPECT_EQ(attrset, (Bitmap{fattr::kMode}));
  Next(r, Op::kGetAttr);  // the current fh is the new directory
  Fattr f;
  ASSERT_TRUE(DecodeFattr(r.d(), &f));
  xdr::Decoder v(f.values);
  uint32_t type = 0, m = 0;
  ASSERT_TRUE(v.ReadU32(&type) && v.ReadU32(&m));
  EXPECT_EQ(type, 2u);
  EXPECT_EQ(m, 0700u);
  Next(r, Op::kCreate);  // the symlink, inside "sub"
  ASSERT_TRUE(r.d().ReadBool(&atomic) && r.d().ReadU64(&before) && r.d().ReadU64(&after) &&
              attrset.Decode(r.d()));
  Next(r, Op::kReadLink);
  std::string target;
  ASSERT_TRUE(r.d().ReadString(100, &target));
  EXPECT_EQ(target, "target/path");
  EXPECT_EQ(Attr({})->nlink, root_links + 1);
  EXPECT_EQ(Attr({"sub", "ln"})->type, vfs::FileType::kSymlink);
}

TEST_F(OpsWriteTest, CreateErrors) {
  auto create = [&](uint32_t type, std::string_view name, std::string_view link = "x") {
    CompoundBuilder b = InData();
    b.Create(type, name, link);
    return StatusOf(b);
  };
  EXPECT_EQ(create(1, "reg"), Stat::kBadType);  // regular files come from OPEN
  EXPECT_EQ(create(3, "blk"), Stat::kBadType);
  EXPECT_EQ(create(7, "fifo"), Stat::kBadType);
  EXPECT_EQ(create(2, "docs"), Stat::kExist);
  EXPECT_EQ(create(2, ".."), Stat::kBadName);
  EXPECT_EQ(create(2, std::string(256, 'd')), Stat::kNameTooLong);
  EXPECT_EQ(create(5, "empty-link", ""), Stat::kInval);
  CompoundBuilder in_file = InData({"hello.txt"});
  in_file.Create(2, "d");
  EXPECT_EQ(StatusOf(in_file), Stat::kNotDir);
}

TEST_F(OpsWriteTest, RemoveFileAndNonEmptyDirectory) {
  CompoundBuilder b = InData();
  b.Remove("hello.txt");
  ReplyReader r = Run(b);
  ASSERT_EQ(r.status(), Stat::kOk);
  Prefix(r, 1);
  Next(r, Op::kRemove);
  bool atomic = true;
  uint64_t before = 0, after = 0;
  ASSERT_TRUE(r.d().ReadBool(&atomic) && r.d().ReadU64(&before) && r.d().ReadU64(&after));
  EXPECT_FALSE(atomic);
  EXPECT_LT(before, after);
  EXPECT_FALSE(Attr({"hello.txt"}).ok());
  auto remove = [&](std::string_view name) {
    CompoundBuilder c = InData();
    c.Remove(name);
    return StatusOf(c);
  };
  EXPECT_EQ(remove("hello.txt"), Stat::kNoEnt);
  EXPECT_EQ(remove("docs"), Stat::kNotEmpty);
  EXPECT_EQ(remove("."), Stat::kBadName);
  EXPECT_EQ(remove(std::string(300, 'r')), Stat::kNameTooLong);
  fs_->AddDir(1, "empty");
  EXPECT_EQ(remove("empty"), Stat::kOk);
  EXPECT_EQ(remove("link"), Stat::kOk);
}

TEST_F(OpsWriteTest, RenameReplacesAndReportsBothDirectories) {
  // data/hello.txt → data/docs/f00 (replacing it): saved fh = source dir, current = target dir.
  CompoundBuilder b = InData();
  b.SaveFh().Lookup("docs").Rename("hello.txt", "f00");
  ReplyReader r = Run(b);
  ASSERT_EQ(r.status(), Stat::kOk);
  Prefix(r, 1);
  Next(r, Op::kSaveFh);
  Next(r, Op::kLookup);
  Next(r, Op::kRename);
  for (int i = 0; i < 2; ++i) {
    bool atomic = true;
    uint64_t before = 0, after = 0;
    ASSERT_TRUE(r.d().ReadBool(&atomic) && r.d().ReadU64(&before) && r.d().ReadU64(&after));
    EXPECT_NE(before, after) << i;
  }
  EXPECT_EQ(Data({"docs", "f00"}), "hello world\n");
  EXPECT_FALSE(Attr({"hello.txt"}).ok());

  auto rename = [&](std::string_view from, std::string_view to) {
    CompoundBuilder c = InData();
    c.SaveFh().Rename(from, to);
    return StatusOf(c);
  };
  fs_->AddDir(1, "empty");
  fs_->AddDir(1, "full");
  fs_->AddFile(fs_->AddDir(1, "full2"), "x", "");
  EXPECT_EQ(rename("link", "link"), Stat::kOk);  // same name: nothing happens
  EXPECT_EQ(rename("full", "full2"), Stat::kNotEmpty);
  EXPECT_EQ(rename("full", "empty"), Stat::kOk);  // a directory replaces an empty directory
  EXPECT_EQ(rename("link", "docs"), Stat::kIsDir);
  EXPECT_EQ(rename("missing", "x"), Stat::kNoEnt);
  EXPECT_EQ(rename("..", "x"), Stat::kBadName);
  EXPECT_EQ(rename("link", ""), Stat::kInval);
  // Into its own subtree.
  CompoundBuilder sub = InData();
  sub.SaveFh().Lookup("docs").Rename("docs", "inner");
  EXPECT_EQ(StatusOf(sub), Stat::kInval);
  // No saved fh.
  CompoundBuilder nosave = InData();
  nosave.Rename("link", "l2");
  EXPECT_EQ(StatusOf(nosave), Stat::kNoFileHandle);
}

TEST_F(OpsWriteTest, RenameAndLinkAcrossExportsAreXdev) {
  CompoundBuilder b = InData();
  b.SaveFh().PutRootFh().Lookup("other").Rename("hello.txt", "x");
  EXPECT_EQ(StatusOf(b), Stat::kXdev);
  CompoundBuilder l = InData({"hello.txt"});
  l.SaveFh().PutRootFh().Lookup("other").Link("x");
  EXPECT_EQ(StatusOf(l), Stat::kXdev);
}

TEST_F(OpsWriteTest, LinkCountsNames) {
  CompoundBuilder b = InData({"hello.txt"});
  b.SaveFh().PutRootFh().Lookup("data").Lookup("docs").Link("hello2").GetFh();
  ReplyReader r = Run(b);
  ASSERT_EQ(r.status(), Stat::kOk);
  Prefix(r, 2);
  Next(r, Op::kSaveFh);
  Next(r, Op::kPutRootFh);
  Next(r, Op::kLookup);
  Next(r, Op::kLookup);
  Next(r, Op::kLink);
  bool atomic = true;
  uint64_t before = 0, after = 0;
  ASSERT_TRUE(r.d().ReadBool(&atomic) && r.d().ReadU64(&before) && r.d().ReadU64(&after));
  EXPECT_NE(before, after);
  Next(r, Op::kGetFh);  // the current fh stays the directory
  ByteView fh;
  ASSERT_TRUE(r.d().ReadOpaque(128, &fh));
  EXPECT_EQ(HandleKey().Decode(fh).fh, (FileHandle{1, docs_}));
  EXPECT_EQ(Attr({"hello.txt"})->nlink, 2u);
  EXPECT_EQ(Attr({"docs", "hello2"})->ino, hello_);
  CompoundBuilder rm = InData();
  rm.Remove("hello.txt");
  EXPECT_EQ(StatusOf(rm), Stat::kOk);
  EXPECT_EQ(Attr({"docs", "hello2"})->nlink, 1u);
  EXPECT_EQ(Data({"docs", "hello2"}), "hello world\n");

  CompoundBuilder dir = InData({"docs"});
  dir.SaveFh().PutRootFh().Lookup("data").Link("docs2");
  EXPECT_EQ(StatusOf(dir), Stat::kIsDir);
  CompoundBuilder exists = InData({"link"});
  exists.SaveFh().PutRootFh().Lookup("data").Link("docs");
  EXPECT_EQ(StatusOf(exists), Stat::kExist);
}

// ---- Read-only exports ----

TEST_F(OpsWriteTest, EveryMutationOnAReadOnlyExportIsRofs) {
  auto in_other = [&] {
    CompoundBuilder b(minor_);
    b.Sequence(session_id_, ++seqid_).PutRootFh().Lookup("other");
    return b;
  };
  Attrs mode;
  mode.Mode(0600);
  CompoundBuilder create = in_other();
  create.Create(2, "d");
  EXPECT_EQ(StatusOf(create), Stat::kRofs);
  CompoundBuilder open = in_other();
  open.Open("n", kBoth, kUnchecked);
  EXPECT_EQ(StatusOf(open), Stat::kRofs);
  CompoundBuilder open_write = in_other();
  open_write.Open("readme", kWrite);
  EXPECT_EQ(StatusOf(open_write), Stat::kRofs);
  CompoundBuilder write = in_other();
  write.Lookup("readme").Write(kAnonymous, 0, kUnstable4, "x");
  EXPECT_EQ(StatusOf(write), Stat::kRofs);
  CompoundBuilder setattr = in_other();
  setattr.Lookup("readme").SetAttr(kAnonymous, mode.mask, mode.values.buffer());
  EXPECT_EQ(StatusOf(setattr), Stat::kRofs);
  CompoundBuilder remove = in_other();
  remove.Remove("readme");
  EXPECT_EQ(StatusOf(remove), Stat::kRofs);
  CompoundBuilder rename = in_other();
  rename.SaveFh().Rename("readme", "r2");
  EXPECT_EQ(StatusOf(rename), Stat::kRofs);
  CompoundBuilder link = in_other();
  link.Lookup("readme").SaveFh().PutRootFh().Lookup("other").Link("r2");
  EXPECT_EQ(StatusOf(link), Stat::kRofs);
  // The pseudo root is read-only as well.
  CompoundBuilder pseudo(minor_);
  pseudo.Sequence(session_id_, ++seqid_).PutRootFh().Create(2, "new-export");
  EXPECT_EQ(StatusOf(pseudo), Stat::kRofs);
  // A read-only open still works.
  CompoundBuilder read = in_other();
  read.Open("readme", kRead);
  EXPECT_EQ(StatusOf(read), Stat::kOk);
}

// ---- NFSv4.2: COPY, SEEK, ALLOCATE, DEALLOCATE ----

class OpsV42Test : public OpsWriteTest {
 protected:
  OpsV42Test() { minor_ = 2; }
};

TEST_F(OpsV42Test, CopyWithinTheExport) {
  CompoundBuilder b = InData({"hello.txt"});
  b.SaveFh().PutRootFh().Lookup("data").Open("copy.txt", kBoth, kUnchecked);
  b.Copy(kAnonymous, kCurrent, 6, 2, 0);  // "world\n" to offset 2
  ReplyReader r = Run(b);
  ASSERT_EQ(r.status(), Stat::kOk);
  Prefix(r, 2);
  Next(r, Op::kSaveFh);
  Next(r, Op::kPutRootFh);
  Next(r, Op::kLookup);
  Next(r, Op::kOpen);
  ReadOpen(r);
  Next(r, Op::kCopy);
  uint32_t callbacks = 9, committed = 9;
  uint64_t count = 0, verf = 0;
  bool consecutive = false, synchronous = false;
  ASSERT_TRUE(r.d().ReadU32(&callbacks) && r.d().ReadU64(&count) && r.d().ReadU32(&committed) &&
              r.d().ReadU64(&verf) && r.d().ReadBool(&consecutive) && r.d().ReadBool(&synchronous));
  EXPECT_EQ(callbacks, 0u);
  EXPECT_EQ(count, 6u);
  EXPECT_EQ(committed, kUnstable4);
  EXPECT_EQ(verf, 0x1122334455667788u);
  EXPECT_TRUE(consecutive);
  EXPECT_TRUE(synchronous);
  EXPECT_EQ(r.d().remaining(), 0u);
  EXPECT_EQ(Data({"copy.txt"}), std::string("\0\0world\n", 8));

  auto copy = [&](uint64_t src_offset, uint64_t count, uint32_t servers = 0) {
    CompoundBuilder c = InData({"hello.txt"});
    c.SaveFh().PutRootFh().Lookup("data").Lookup("copy.txt");
    c.Copy(kAnonymous, kAnonymous, src_offset, 0, count, servers);
    return StatusOf(c);
  };
  EXPECT_EQ(copy(0, 12), Stat::kOk);
  EXPECT_EQ(Data({"copy.txt"}), "hello world\n");
  EXPECT_EQ(copy(13, 0), Stat::kInval);  // past the source's end
  EXPECT_EQ(copy(6, 7), Stat::kInval);
  EXPECT_EQ(copy(0, 1, /*servers=*/1), Stat::kNotSupp);  // inter-server copy
  CompoundBuilder dir = InData({"docs"});
  dir.SaveFh().PutRootFh().Lookup("data").Lookup("copy.txt").Copy(kAnonymous, kAnonymous, 0, 0, 0);
  EXPECT_EQ(StatusOf(dir), Stat::kWrongType);
  CompoundBuilder xdev = InData({"hello.txt"});
  xdev.SaveFh().PutRootFh().Lookup("other").Lookup("readme").Copy(kAnonymous, kAnonymous, 0, 0, 0);
  EXPECT_EQ(StatusOf(xdev), Stat::kXdev);
}

TEST_F(OpsV42Test, SeekFindsDataThenTheHoleAtTheEnd) {
  auto seek = [&](uint64_t offset, uint32_t what, bool* eof, uint64_t* found) {
    CompoundBuilder b = InData({"hello.txt"});
    b.Seek(kAnonymous, offset, what);
    ReplyReader r = Run(b);
    Prefix(r, 2);
    uint32_t op;
    Stat st;
    EXPECT_TRUE(r.Next(&op, &st));
    if (st == Stat::kOk) {
      EXPECT_TRUE(r.d().ReadBool(eof) && r.d().ReadU64(found));
    }
    return st;
  };
  bool eof = true;
  uint64_t found = 0;
  EXPECT_EQ(seek(3, 0, &eof, &found), Stat::kOk);  // NFS4_CONTENT_DATA
  EXPECT_FALSE(eof);
  EXPECT_EQ(found, 3u);
  EXPECT_EQ(seek(3, 1, &eof, &found), Stat::kOk);  // NFS4_CONTENT_HOLE
  EXPECT_TRUE(eof);
  EXPECT_EQ(found, 12u);
  EXPECT_EQ(seek(12, 0, &eof, &found), Stat::kNxio);
  EXPECT_EQ(seek(12, 1, &eof, &found), Stat::kNxio);
  EXPECT_EQ(seek(0, 7, &eof, &found), Stat::kUnionNotSupp);
}

TEST_F(OpsV42Test, AllocateExtendsAndDeallocateZeroes) {
  auto run = [&](bool allocate, uint64_t offset, uint64_t length,
                 std::initializer_list<std::string_view> path = {"hello.txt"}) {
    CompoundBuilder b = InData(path);
    if (allocate) {
      b.Allocate(kAnonymous, offset, length);
    } else {
      b.Deallocate(kAnonymous, offset, length);
    }
    return StatusOf(b);
  };
  EXPECT_EQ(run(true, 0, 5), Stat::kOk);
  EXPECT_EQ(Attr({"hello.txt"})->size, 12u);  // within the file: nothing to do
  EXPECT_EQ(run(true, 10, 10), Stat::kOk);
  EXPECT_EQ(Attr({"hello.txt"})->size, 20u);
  EXPECT_EQ(run(false, 0, 6), Stat::kOk);
  EXPECT_EQ(Data({"hello.txt"}), std::string(6, '\0') + "world\n" + std::string(8, '\0'));
  EXPECT_EQ(run(false, 18, 100), Stat::kOk);  // clipped at the end; the size stays
  EXPECT_EQ(Attr({"hello.txt"})->size, 20u);
  EXPECT_EQ(run(true, 0, 0), Stat::kInval);
  EXPECT_EQ(run(true, kMaxFileBytes, 1), Stat::kFBig);
  EXPECT_EQ(run(true, 0, 1, {"docs"}), Stat::kWrongType);
  EXPECT_EQ(run(false, 0, 1, {"link"}), Stat::kWrongType);
  OpenRes ro = Open("hello.txt", kRead);
  CompoundBuilder openmode = InData({"hello.txt"});
  openmode.Allocate(ro.sid, 0, 100);
  EXPECT_EQ(StatusOf(openmode), Stat::kOpenMode);
}

TEST_F(OpsWriteTest, V42OpsAreIllegalInMinorVersion1) {
  for (Op op : {Op::kCopy, Op::kSeek, Op::kAllocate, Op::kDeallocate}) {
    CompoundBuilder b = InData({"hello.txt"});
    b.Op(op);
    ReplyReader r = Run(b);
    EXPECT_EQ(r.status(), Stat::kOpIllegal);
    Prefix(r, 2);
    Next(r, Op::kIllegal, Stat::kOpIllegal);
  }
}

TEST_F(OpsWriteTest, AccessOnAWritableExportGrantsModify) {
  CompoundBuilder b = InData({"hello.txt"});
  b.Access(0x3f);
  ReplyReader r = Run(b);
  Prefix(r, 2);
  Next(r, Op::kAccess);
  uint32_t supported = 0, access = 0;
  ASSERT_TRUE(r.d().ReadU32(&supported) && r.d().ReadU32(&access));
  EXPECT_EQ(access, 0x01u | 0x04u | 0x08u);  // READ, MODIFY, EXTEND for the owner of a 0644 file
}

// ---- Byte-range locks over the wire (ops_lock.cc) ----

// LOCK with a new lock-owner from `open` (4.1: seqids and the lock-owner clientid unused).
CompoundBuilder& LockNew(CompoundBuilder& b, uint32_t type, uint64_t offset, uint64_t length,
                         const StateId& open, std::string_view owner) {
  b.Op(Op::kLock);
  b.args().WriteU32(type);
  b.args().WriteBool(false);  // reclaim
  b.args().WriteU64(offset);
  b.args().WriteU64(length);
  b.args().WriteBool(true);  // new_lock_owner
  b.args().WriteU32(0);
  WriteStateId(b.args(), open);
  b.args().WriteU32(0);
  b.args().WriteU64(0);
  b.args().WriteString(owner);
  return b;
}

TEST_F(OpsWriteTest, LockConflictIsDeniedWithTheHoldersRangeAndOwner) {
  OpenRes o = Open("hello.txt", kBoth);
  CompoundBuilder first = InData({"hello.txt"});
  ReplyReader r = Run(LockNew(first, /*WRITE_LT=*/2, 0, 100, o.sid, "holder"));
  Prefix(r, 2);
  Next(r, Op::kLock);
  StateId lock;
  ASSERT_TRUE(ReadStateId(r.d(), &lock));
  EXPECT_EQ(lock.seqid, 1u);

  CompoundBuilder second = InData({"hello.txt"});
  r = Run(LockNew(second, /*READW_LT=*/3, 50, 10, o.sid, "other"));
  Prefix(r, 2);
  Next(r, Op::kLock, Stat::kDenied);
  uint64_t offset = 0, length = 0, clientid = 0;
  uint32_t type = 0;
  std::string owner;
  ASSERT_TRUE(r.d().ReadU64(&offset) && r.d().ReadU64(&length) && r.d().ReadU32(&type) &&
              r.d().ReadU64(&clientid) && r.d().ReadString(1024, &owner));
  EXPECT_EQ(offset, 0u);
  EXPECT_EQ(length, 100u);
  EXPECT_EQ(type, 2u);
  EXPECT_EQ(clientid, clientid_);
  EXPECT_EQ(owner, "holder");

  // LOCKT sees the same; after LOCKU (through the current stateid) the range is free.
  CompoundBuilder test = InData({"hello.txt"});
  test.Op(Op::kLockT);
  test.args().WriteU32(1);
  test.args().WriteU64(99);
  test.args().WriteU64(1);
  test.args().WriteU64(0);
  test.args().WriteString("other");
  EXPECT_EQ(StatusOf(test), Stat::kDenied);
  CompoundBuilder unlock = InData({"hello.txt"});
  unlock.Op(Op::kLockU);
  unlock.args().WriteU32(2);
  unlock.args().WriteU32(0);
  WriteStateId(unlock.args(), lock);
  unlock.args().WriteU64(0);
  unlock.args().WriteU64(~uint64_t{0});
  r = Run(unlock);
  Prefix(r, 2);
  Next(r, Op::kLockU);
  StateId unlocked;
  ASSERT_TRUE(ReadStateId(r.d(), &unlocked));
  EXPECT_EQ(unlocked.seqid, 2u);
  CompoundBuilder retry = InData({"hello.txt"});
  EXPECT_EQ(StatusOf(LockNew(retry, 3, 50, 10, o.sid, "other")), Stat::kOk);
}

TEST_F(OpsWriteTest, LockArgumentsAndTargetsAreChecked) {
  OpenRes o = Open("hello.txt", kBoth);
  CompoundBuilder bad_type = InData({"hello.txt"});
  EXPECT_EQ(StatusOf(LockNew(bad_type, 7, 0, 1, o.sid, "l")), Stat::kBadXdr);
  CompoundBuilder zero = InData({"hello.txt"});
  EXPECT_EQ(StatusOf(LockNew(zero, 1, 0, 0, o.sid, "l")), Stat::kInval);
  CompoundBuilder dir = InData();
  EXPECT_EQ(StatusOf(LockNew(dir, 1, 0, 1, o.sid, "l")), Stat::kIsDir);
  CompoundBuilder no_fh(minor_);
  no_fh.Sequence(session_id_, ++seqid_);
  EXPECT_EQ(StatusOf(LockNew(no_fh, 1, 0, 1, o.sid, "l")), Stat::kNoFileHandle);
  CompoundBuilder forged = InData({"hello.txt"});
  EXPECT_EQ(StatusOf(LockNew(forged, 1, 0, 1, Sid(1, 0x5a), "l")), Stat::kStaleStateId);
}

}  // namespace
}  // namespace bucketfs::nfs
