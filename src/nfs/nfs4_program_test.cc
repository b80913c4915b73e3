// Nfs4Program driven directly with hand-encoded COMPOUNDs over MemoryFs exports.
#include "nfs/nfs4_program.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <sstream>

#include "nfs/attrs.h"
#include "nfs/errors.h"
#include "nfs/nfs_server.h"
#include "nfs/op_util.h"
#include "nfs/ops_xdr.h"
#include "nfs/testing/compound_builder.h"
#include "nfs/testing/memory_fs.h"
#include "nfs/testing/program_harness.h"

namespace bucketfs::nfs {
namespace {

using testing::CompoundBuilder;
using testing::ReplyReader;

class Nfs4ProgramTest : public testing::ProgramHarness, public ::testing::Test {};

// Reads the next op result and checks its opcode and status.
void Expect(ReplyReader& r, Op op, Stat status) {
  uint32_t got_op = 0;
  Stat got = Stat::kOk;
  ASSERT_TRUE(r.Next(&got_op, &got));
  EXPECT_EQ(got_op, static_cast<uint32_t>(op));
  EXPECT_EQ(got, status) << StatName(got) << " != " << StatName(status);
}

TEST_F(Nfs4ProgramTest, MinorVersion3IsMismatchWithNoResults) {
  CompoundBuilder b(3, "tagx");
  b.PutRootFh();
  ReplyReader r(Compound(b.Build()));
  EXPECT_EQ(r.status(), Stat::kMinorVersMismatch);
  EXPECT_EQ(r.tag(), "tagx");
  EXPECT_EQ(r.count(), 0u);
}

TEST_F(Nfs4ProgramTest, UndecodableHeaderIsGarbageArgs) {
  rpc::AcceptStat st;
  const uint8_t bad_tag[] = {0xff, 0xff, 0xff, 0xf0};
  Compound(Bytes(std::begin(bad_tag), std::end(bad_tag)), &st);
  EXPECT_EQ(st, rpc::AcceptStat::kGarbageArgs);
  Compound(Bytes{0, 0, 0, 0, 0, 0, 0, 1}, &st);  // no op count
  EXPECT_EQ(st, rpc::AcceptStat::kGarbageArgs);
}

TEST_F(Nfs4ProgramTest, UnknownOpIsIllegal) {
  CompoundBuilder b(0);
  b.PutRootFh();
  b.args().WriteU32(9999);
  Bytes args = b.Build(2);
  ReplyReader r(Compound(args));
  EXPECT_EQ(r.status(), Stat::kOpIllegal);
  EXPECT_EQ(r.count(), 2u);
  Expect(r, Op::kPutRootFh, Stat::kOk);
  Expect(r, Op::kIllegal, Stat::kOpIllegal);
}

TEST_F(Nfs4ProgramTest, V41OpInV40IsIllegalAndV40OpInV41IsNotSupp) {
  CompoundBuilder b0(0);
  b0.Op(Op::kReclaimComplete).args().WriteBool(false);
  ReplyReader r0(Compound(b0.Build()));
  Expect(r0, Op::kIllegal, Stat::kOpIllegal);

  CompoundBuilder b2(0);
  b2.Op(Op::kCopy);
  ReplyReader r2(Compound(b2.Build()));
  Expect(r2, Op::kIllegal, Stat::kOpIllegal);
}

// RFC 7530 §9.1.9: a retransmitted seqid-bearing request (its owner's last seqid again) gets the
// reply the original got, and is not executed again; an error uses the seqid up too (§9.1.7).
TEST_F(Nfs4ProgramTest, V40RetransmissionsGetTheOriginalReply) {
  const uint64_t clientid = EstablishClient40("replayer");
  ASSERT_NE(clientid, 0u);
  auto open = [&](const char* name, uint32_t seqid) {
    CompoundBuilder b(0);
    b.PutRootFh().Lookup("data").Open(name, kShareAccessRead, -1, Bitmap(), {}, 0, "owner",
                                      clientid, seqid);
    b.GetFh();
    return Compound(b.Build());
  };
  auto stateid_of = [](const Bytes& reply, Op which, StateId* sid) {
    ReplyReader r(reply);
    uint32_t op = 0;
    Stat st;
    while (r.Next(&op, &st)) {
      if (st != Stat::kOk) return false;
      if (op == static_cast<uint32_t>(which)) return ReadStateId(r.d(), sid);
      if (op == static_cast<uint32_t>(Op::kLookup) || op == static_cast<uint32_t>(Op::kPutRootFh) ||
          op == static_cast<uint32_t>(Op::kPutFh)) {
        continue;
      }
      return false;
    }
    return false;
  };
  const Bytes first = open("hello.txt", 1);
  EXPECT_EQ(ReplyReader(first).status(), Stat::kOk);
  EXPECT_EQ(open("hello.txt", 1), first);  // the same stateid, and GETFH sees the file again
  StateId opened;
  ASSERT_TRUE(stateid_of(first, Op::kOpen, &opened));

  auto on_hello = [&](auto add) {
    CompoundBuilder b(0);
    b.PutRootFh().Lookup("data").Lookup("hello.txt");
    add(b);
    return Compound(b.Build());
  };
  auto confirm = [&](CompoundBuilder& b) {
    b.Op(Op::kOpenConfirm);
    WriteStateId(b.args(), opened);
    b.args().WriteU32(2);
  };
  const Bytes confirmed = on_hello(confirm);
  ASSERT_EQ(ReplyReader(confirmed).status(), Stat::kOk);
  EXPECT_EQ(on_hello(confirm), confirmed);
  StateId current;
  ASSERT_TRUE(stateid_of(confirmed, Op::kOpenConfirm, &current));

  auto close = [&](CompoundBuilder& b) { b.Close(current, 3); };
  const Bytes closed = on_hello(close);
  ASSERT_EQ(ReplyReader(closed).status(), Stat::kOk);
  EXPECT_EQ(on_hello(close), closed);  // the open is gone, its owner still answers

  // An OPEN that fails uses its seqid up; its retransmission gets the same error; the next seqid
  // works, and one that is neither the last nor the next is BAD_SEQID.
  const Bytes missing = open("missing", 4);
  EXPECT_EQ(ReplyReader(missing).status(), Stat::kNoEnt);
  EXPECT_EQ(open("missing", 4), missing);
  EXPECT_EQ(ReplyReader(open("hello.txt", 5)).status(), Stat::kOk);
  EXPECT_EQ(ReplyReader(open("hello.txt", 9)).status(), Stat::kBadSeqId);
}

TEST_F(Nfs4ProgramTest, StopOnErrorLayout) {
  CompoundBuilder b(0, "t");
  b.PutRootFh().Lookup("nope").GetFh();
  ReplyReader r(Compound(b.Build()));
  EXPECT_EQ(r.status(), Stat::kNoEnt);
  EXPECT_EQ(r.count(), 2u);
  Expect(r, Op::kPutRootFh, Stat::kOk);
  Expect(r, Op::kLookup, Stat::kNoEnt);
  EXPECT_EQ(r.d().remaining(), 0u);
}

TEST_F(Nfs4ProgramTest, TruncatedArgsAreBadXdr) {
  CompoundBuilder b(0);
  b.PutRootFh().Op(Op::kGetAttr).args().WriteU32(2);  // bitmap says two words, none follow
  ReplyReader r(Compound(b.Build()));
  EXPECT_EQ(r.status(), Stat::kBadXdr);
  Expect(r, Op::kPutRootFh, Stat::kOk);
  Expect(r, Op::kGetAttr, Stat::kBadXdr);
  EXPECT_EQ(r.d().remaining(), 0u);
}

TEST_F(Nfs4ProgramTest, GarbageAfterLastOpIsBadXdr) {
  CompoundBuilder b(0);
  b.PutRootFh().GetFh();
  b.args().WriteU32(0x6a756e6b);
  ReplyReader r(Compound(b.Build()));
  EXPECT_EQ(r.status(), Stat::kBadXdr);
  Expect(r, Op::kPutRootFh, Stat::kOk);
  Expect(r, Op::kGetFh, Stat::kBadXdr);
}

TEST_F(Nfs4ProgramTest, MissingOpsAreBadXdr) {
  CompoundBuilder b(0);
  b.PutRootFh();
  ReplyReader r(Compound(b.Build(3)));
  EXPECT_EQ(r.status(), Stat::kBadXdr);
  EXPECT_EQ(r.count(), 2u);
}

TEST_F(Nfs4ProgramTest, TooManyOps) {
  CompoundBuilder b0(0);
  for (int i = 0; i < 200; ++i) b0.PutRootFh();
  ReplyReader r0(Compound(b0.Build()));
  EXPECT_EQ(r0.status(), Stat::kResource);
  EXPECT_EQ(r0.count(), 0u);
  CompoundBuilder b1(1);
  ReplyReader r1(Compound(b1.Build(0xffffffff)));
  EXPECT_EQ(r1.status(), Stat::kTooManyOps);
}

TEST_F(Nfs4ProgramTest, MutatingOpOnReadOnlyExportIsRofs) {
  CompoundBuilder b(0);
  b.PutRootFh().Lookup("other").Op(Op::kRemove).args().WriteString("readme");
  ReplyReader r(Compound(b.Build()));
  EXPECT_EQ(r.status(), Stat::kRofs);
}

TEST_F(Nfs4ProgramTest, V41WithoutSequenceIsNotInSession) {
  CompoundBuilder b(1);
  b.PutRootFh().GetFh();
  ReplyReader r(Compound(b.Build()));
  EXPECT_EQ(r.status(), Stat::kOpNotInSession);
  Expect(r, Op::kPutRootFh, Stat::kOpNotInSession);
}

TEST_F(Nfs4ProgramTest, LookupIntoExportAndBack) {
  CompoundBuilder b(0);
  Bitmap attrs{fattr::kType, fattr::kFsid, fattr::kFileId, fattr::kMountedOnFileId};
  b.PutRootFh().GetAttr(attrs).Lookup("data").GetAttr(attrs).GetFh().LookupP().GetFh();
  ReplyReader r(Compound(b.Build()));
  ASSERT_EQ(r.status(), Stat::kOk);
  Expect(r, Op::kPutRootFh, Stat::kOk);
  Expect(r, Op::kGetAttr, Stat::kOk);
  Fattr root;
  ASSERT_TRUE(DecodeFattr(r.d(), &root));
  Expect(r, Op::kLookup, Stat::kOk);
  Expect(r, Op::kGetAttr, Stat::kOk);
  Fattr exp;
  ASSERT_TRUE(DecodeFattr(r.d(), &exp));
  // fsids differ; the export root is mounted on its junction.
  xdr::Decoder rd(root.values), ed(exp.values);
  uint32_t rtype, etype;
  uint64_t rmaj, rmin, emaj, emin, rid, eid, rmnt, emnt;
  ASSERT_TRUE(rd.ReadU32(&rtype) && rd.ReadU64(&rmaj) && rd.ReadU64(&rmin) && rd.ReadU64(&rid) &&
              rd.ReadU64(&rmnt));
  ASSERT_TRUE(ed.ReadU32(&etype) && ed.ReadU64(&emaj) && ed.ReadU64(&emin) && ed.ReadU64(&eid) &&
              ed.ReadU64(&emnt));
  EXPECT_EQ(rtype, 2u);
  EXPECT_EQ(etype, 2u);
  EXPECT_TRUE(rmaj != emaj || rmin != emin);
  EXPECT_EQ(eid, 1u);
  EXPECT_NE(emnt, eid);
  Expect(r, Op::kGetFh, Stat::kOk);
  ByteView fh;
  ASSERT_TRUE(r.d().ReadOpaque(128, &fh));
  EXPECT_EQ(HandleKey().Decode(fh).fh, (FileHandle{1, 1}));
  Expect(r, Op::kLookupP, Stat::kOk);
  Expect(r, Op::kGetFh, Stat::kOk);
  ASSERT_TRUE(r.d().ReadOpaque(128, &fh));
  EXPECT_EQ(HandleKey().Decode(fh).fh, (FileHandle{0, kPseudoRootIno}));
}

TEST_F(Nfs4ProgramTest, LookupNameChecks) {
  struct Case {
    std::string name;
    Stat want;
  } cases[] = {{"", Stat::kInval},
               {std::string(256, 'a'), Stat::kNameTooLong},
               {".", Stat::kBadName},
               {"..", Stat::kBadName},
               {"a/b", Stat::kBadName}};
  for (const auto& c : cases) {
    CompoundBuilder b(0);
    b.PutRootFh().Lookup("data").Lookup(c.name);
    ReplyReader r(Compound(b.Build()));
    EXPECT_EQ(r.status(), c.want) << c.name.size();
  }
  CompoundBuilder b(0);
  b.PutRootFh().Lookup("data").Lookup("hello.txt").Lookup("x");
  EXPECT_EQ(ReplyReader(Compound(b.Build())).status(), Stat::kNotDir);
  CompoundBuilder s(0);
  s.PutRootFh().Lookup("data").Lookup("link").Lookup("x");
  EXPECT_EQ(ReplyReader(Compound(s.Build())).status(), Stat::kSymlink);
  CompoundBuilder n(0);
  n.Lookup("data");
  EXPECT_EQ(ReplyReader(Compound(n.Build())).status(), Stat::kNoFileHandle);
}

TEST_F(Nfs4ProgramTest, PutFhChecks) {
  CompoundBuilder b(0);
  Bytes junk(16, 7);
  b.PutFh(junk);
  EXPECT_EQ(ReplyReader(Compound(b.Build())).status(), Stat::kBadHandle);
  CompoundBuilder s(0);
  s.PutFh(HandleKey().Encode(FileHandle{99, 1}));
  EXPECT_EQ(ReplyReader(Compound(s.Build())).status(), Stat::kStale);
  CompoundBuilder big(0);
  big.PutFh(Bytes(129, 0));
  EXPECT_EQ(ReplyReader(Compound(big.Build())).status(), Stat::kBadXdr);
  CompoundBuilder ok(0);
  ok.PutFh(HandleKey().Encode(FileHandle{1, hello_})).GetAttr(Bitmap{fattr::kSize});
  EXPECT_EQ(ReplyReader(Compound(ok.Build())).status(), Stat::kOk);
  // A handle to an existing inode but with another generation (an earlier incarnation).
  CompoundBuilder old_gen(0);
  old_gen.PutFh(HandleKey().Encode(FileHandle{1, hello_, 5})).GetAttr(Bitmap{fattr::kSize});
  EXPECT_EQ(ReplyReader(Compound(old_gen.Build())).status(), Stat::kStale);
  // A well-formed handle not minted under the server's key (forged or another gateway's).
  std::array<uint8_t, HandleKey::kSize> other;
  other.fill(9);
  CompoundBuilder forged(0);
  forged.PutFh(HandleKey(other).Encode(FileHandle{1, hello_}));
  EXPECT_EQ(ReplyReader(Compound(forged.Build())).status(), Stat::kStale);
  CompoundBuilder restore(0);
  restore.PutRootFh().RestoreFh();
  EXPECT_EQ(ReplyReader(Compound(restore.Build())).status(), Stat::kRestoreFh);
}

TEST_F(Nfs4ProgramTest, ReadDirPagingWithSmallMaxcount) {
  std::vector<std::string> names;
  uint64_t cookie = 0, verf = 0;
  bool eof = false;
  int calls = 0;
  while (!eof && calls < 100) {
    ++calls;
    CompoundBuilder b(0);
    b.PutRootFh().Lookup("data").Lookup("docs").ReadDir(cookie, verf, 0, 200,
                                                        Bitmap{fattr::kFileId, fattr::kType});
    ReplyReader r(Compound(b.Build()));
    ASSERT_EQ(r.status(), Stat::kOk);
    Expect(r, Op::kPutRootFh, Stat::kOk);
    Expect(r, Op::kLookup, Stat::kOk);
    Expect(r, Op::kLookup, Stat::kOk);
    Expect(r, Op::kReadDir, Stat::kOk);
    ASSERT_TRUE(r.d().ReadU64(&verf));
    bool follows = false;
    std::size_t in_page = 0;
    while (r.d().ReadBool(&follows) && follows) {
      std::string name;
      Fattr f;
      ASSERT_TRUE(r.d().ReadU64(&cookie) && r.d().ReadString(255, &name) && DecodeFattr(r.d(), &f));
      names.push_back(name);
      ++in_page;
    }
    ASSERT_TRUE(r.d().ReadBool(&eof));
    EXPECT_GT(in_page, 0u);
  }
  EXPECT_GT(calls, 3);
  ASSERT_EQ(names.size(), 20u);
  EXPECT_EQ(names.front(), "f00");
  EXPECT_EQ(names.back(), "f19");
}

TEST_F(Nfs4ProgramTest, ReadDirErrors) {
  auto status = [&](uint64_t cookie, uint64_t verf, uint32_t maxcount) {
    CompoundBuilder b(0);
    b.PutRootFh().Lookup("data").ReadDir(cookie, verf, 0, maxcount, Bitmap{fattr::kFileId});
    return ReplyReader(Compound(b.Build())).status();
  };
  EXPECT_EQ(status(1, 0, 4096), Stat::kBadCookie);
  EXPECT_EQ(status(2, 0, 4096), Stat::kBadCookie);
  EXPECT_EQ(status(3, 0x1234, 4096), Stat::kNotSame);
  EXPECT_EQ(status(0, 0, 30), Stat::kTooSmall);
  EXPECT_EQ(status(0, 0, 4096), Stat::kOk);
  CompoundBuilder f(0);
  f.PutRootFh().Lookup("data").Lookup("hello.txt").ReadDir(0, 0, 0, 4096, Bitmap{});
  EXPECT_EQ(ReplyReader(Compound(f.Build())).status(), Stat::kNotDir);
}

TEST_F(Nfs4ProgramTest, ReadDirOfPseudoRootListsExports) {
  CompoundBuilder b(0);
  b.PutRootFh().ReadDir(0, 0, 0, 4096, Bitmap{fattr::kMountedOnFileId, fattr::kRdattrError});
  ReplyReader r(Compound(b.Build()));
  ASSERT_EQ(r.status(), Stat::kOk);
  Expect(r, Op::kPutRootFh, Stat::kOk);
  Expect(r, Op::kReadDir, Stat::kOk);
  uint64_t verf;
  ASSERT_TRUE(r.d().ReadU64(&verf));
  std::vector<std::string> names;
  bool follows = false;
  while (r.d().ReadBool(&follows) && follows) {
    uint64_t cookie;
    std::string name;
    Fattr f;
    ASSERT_TRUE(r.d().ReadU64(&cookie) && r.d().ReadString(255, &name) && DecodeFattr(r.d(), &f));
    names.push_back(name);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"data", "other"}));
}

TEST_F(Nfs4ProgramTest, AccessOnReadOnlyExport) {
  CompoundBuilder b(0);
  b.PutRootFh().Lookup("other").Lookup("readme").Access(0x3f);
  ReplyReader r(Compound(b.Build()));
  ASSERT_EQ(r.status(), Stat::kOk);
  Expect(r, Op::kPutRootFh, Stat::kOk);
  Expect(r, Op::kLookup, Stat::kOk);
  Expect(r, Op::kLookup, Stat::kOk);
  Expect(r, Op::kAccess, Stat::kOk);
  uint32_t supported = 0, access = 0;
  ASSERT_TRUE(r.d().ReadU32(&supported) && r.d().ReadU32(&access));
  EXPECT_EQ(supported, 0x2du);  // a file: no LOOKUP (0x02) or DELETE (0x10)
  EXPECT_EQ(access, 0x01u);     // owner rw- on a read-only export: READ only
  CompoundBuilder dir(0);
  dir.PutRootFh().Lookup("data").Lookup("docs").Access(0x3f);
  ReplyReader d(Compound(dir.Build()));
  ASSERT_EQ(d.status(), Stat::kOk);
  Expect(d, Op::kPutRootFh, Stat::kOk);
  Expect(d, Op::kLookup, Stat::kOk);
  Expect(d, Op::kLookup, Stat::kOk);
  Expect(d, Op::kAccess, Stat::kOk);
  ASSERT_TRUE(d.d().ReadU32(&supported) && d.d().ReadU32(&access));
  EXPECT_EQ(supported, 0x1fu);  // a directory: no EXECUTE (0x20)
  EXPECT_EQ(access & ~supported, 0u);
}

// An attribute number the server does not know (1000: a 32-word bitmap) is left out of the
// reply, not an error (pynfs GATT4*).
TEST_F(Nfs4ProgramTest, GetAttrIgnoresUnknownAttributes) {
  CompoundBuilder b(0);
  b.PutRootFh().Lookup("data").GetAttr(Bitmap{fattr::kSize, 1000});
  ReplyReader r(Compound(b.Build()));
  ASSERT_EQ(r.status(), Stat::kOk);
  Expect(r, Op::kPutRootFh, Stat::kOk);
  Expect(r, Op::kLookup, Stat::kOk);
  Expect(r, Op::kGetAttr, Stat::kOk);
  Bitmap got;
  ASSERT_TRUE(got.Decode(r.d()));
  EXPECT_TRUE(got.Test(fattr::kSize));
  EXPECT_FALSE(got.Test(1000));
}

TEST_F(Nfs4ProgramTest, VerifyAndNVerify) {
  xdr::Encoder size_val;
  size_val.WriteU64(12);  // "hello world\n"
  auto run = [&](Op op, uint64_t size) {
    CompoundBuilder b(0);
    b.PutRootFh().Lookup("data").Lookup("hello.txt").Op(op);
    Bitmap{fattr::kSize}.Encode(b.args());
    xdr::Encoder v;
    v.WriteU64(size);
    b.args().WriteOpaque(v.buffer());
    return ReplyReader(Compound(b.Build())).status();
  };
  EXPECT_EQ(run(Op::kVerify, 12), Stat::kOk);
  EXPECT_EQ(run(Op::kVerify, 13), Stat::kNotSame);
  EXPECT_EQ(run(Op::kNVerify, 12), Stat::kSame);
  EXPECT_EQ(run(Op::kNVerify, 13), Stat::kOk);
  CompoundBuilder b(0);
  b.PutRootFh().Op(Op::kVerify);
  Bitmap{fattr::kAcl}.Encode(b.args());
  b.args().WriteOpaque({});
  EXPECT_EQ(ReplyReader(Compound(b.Build())).status(), Stat::kAttrNotSupp);
}

TEST_F(Nfs4ProgramTest, ReadLinkAndSecInfo) {
  CompoundBuilder b(0);
  b.PutRootFh().Lookup("data").Lookup("link").ReadLink();
  ReplyReader r(Compound(b.Build()));
  ASSERT_EQ(r.status(), Stat::kOk);
  for (int i = 0; i < 3; ++i) {
    uint32_t op;
    Stat s;
    ASSERT_TRUE(r.Next(&op, &s));
  }
  Expect(r, Op::kReadLink, Stat::kOk);
  std::string target;
  ASSERT_TRUE(r.d().ReadString(1024, &target));
  EXPECT_EQ(target, "hello.txt");

  CompoundBuilder s(0);
  s.PutRootFh().Lookup("data").Op(Op::kSecInfo).args().WriteString("hello.txt");
  ReplyReader sr(Compound(s.Build()));
  ASSERT_EQ(sr.status(), Stat::kOk);
}

TEST_F(Nfs4ProgramTest, V42CopyInV41IsIllegal) {
  // COPY is an op of minor version 2 only (ops_write_test.cc covers it in 4.2).
  CompoundBuilder b(1);
  b.Op(Op::kCopy);
  ReplyReader r(Compound(b.Build()));
  Expect(r, Op::kIllegal, Stat::kOpIllegal);
}

TEST_F(Nfs4ProgramTest, ReadWithAnonymousStateId) {
  CompoundBuilder b(0);
  b.PutRootFh().Lookup("data").Lookup("hello.txt").Read(StateId{}, 6, 100);
  ReplyReader r(Compound(b.Build()));
  ASSERT_EQ(r.status(), Stat::kOk);
  for (int i = 0; i < 3; ++i) Expect(r, i == 0 ? Op::kPutRootFh : Op::kLookup, Stat::kOk);
  Expect(r, Op::kRead, Stat::kOk);
  bool eof = false;
  std::string data;
  ASSERT_TRUE(r.d().ReadBool(&eof) && r.d().ReadString(1000, &data));
  EXPECT_TRUE(eof);
  EXPECT_EQ(data, "world\n");

  CompoundBuilder d(0);
  d.PutRootFh().Lookup("data").Read(StateId{}, 0, 10);
  EXPECT_EQ(ReplyReader(Compound(d.Build())).status(), Stat::kIsDir);
  CompoundBuilder l(0);
  l.PutRootFh().Lookup("data").Lookup("link").Read(StateId{}, 0, 10);
  EXPECT_EQ(ReplyReader(Compound(l.Build())).status(), Stat::kInval);
  StateId bogus;
  bogus.seqid = 1;
  bogus.other[0] = 9;
  CompoundBuilder s(0);
  s.PutRootFh().Lookup("data").Lookup("hello.txt").Read(bogus, 0, 10);
  // Its `other` does not carry this server instance's boot epoch: a stateid from an earlier
  // instance (RFC 7530 §9.1.4.1 STALE_STATEID), the way Linux nfsd answers too.
  EXPECT_EQ(ReplyReader(Compound(s.Build())).status(), Stat::kStaleStateId);
}

TEST_F(Nfs4ProgramTest, OpenForWriteOnReadOnlyExportIsRofs) {
  CompoundBuilder b(0);
  b.PutRootFh().Lookup("other").Op(Op::kOpen);
  auto& a = b.args();
  a.WriteU32(1);           // seqid
  a.WriteU32(2);           // OPEN4_SHARE_ACCESS_WRITE
  a.WriteU32(0);           // deny none
  a.WriteU64(1);           // clientid
  a.WriteString("owner");  // owner
  a.WriteU32(0);           // OPEN4_NOCREATE
  a.WriteU32(0);           // CLAIM_NULL
  a.WriteString("readme");
  EXPECT_EQ(ReplyReader(Compound(b.Build())).status(), Stat::kRofs);
}

// RFC 8881 §2.10.6: a session is established, SEQUENCE admits a request, a retransmission gets
// the identical cached reply, and a skipped seqid is misordered.
TEST_F(Nfs4ProgramTest, SessionSequenceReplayAndMisorder) {
  ASSERT_TRUE(EstablishSession());
  CompoundBuilder b(1);
  b.Sequence(session_id_, ++seqid_).PutRootFh().Lookup("data").Lookup("hello.txt");
  Bitmap attrs;
  attrs.Set(fattr::kSize);
  b.GetAttr(attrs);
  Bytes first = Compound(b.Build());
  EXPECT_EQ(ReplyReader(first).status(), Stat::kOk);
  Bytes again = Compound(b.Build());
  EXPECT_EQ(first, again);  // served from the slot's reply cache

  CompoundBuilder skip(1);
  skip.Sequence(session_id_, seqid_ + 4).PutRootFh();
  EXPECT_EQ(ReplyReader(Compound(skip.Build())).status(), Stat::kSeqMisordered);
  CompoundBuilder bad_slot(1);
  bad_slot.Sequence(session_id_, seqid_, 999).PutRootFh();
  EXPECT_EQ(ReplyReader(Compound(bad_slot.Build())).status(), Stat::kBadSlot);
  CompoundBuilder next(1);
  next.Sequence(session_id_, ++seqid_).PutRootFh();
  EXPECT_EQ(ReplyReader(Compound(next.Build())).status(), Stat::kOk);
}

// A client's first confirmation is logged at info, once, with its clientid, owner and address;
// nothing else a client does is.
TEST_F(Nfs4ProgramTest, ClientConnectedIsLoggedOnceAtInfo) {
  std::ostringstream log;
  auto previous = spdlog::default_logger();
  auto logger = std::make_shared<spdlog::logger>(
      "test", std::make_shared<spdlog::sinks::ostream_sink_st>(log));
  logger->set_level(spdlog::level::info);
  spdlog::set_default_logger(logger);
  call_.peer = "192.0.2.7:801";
  call_.sys.machine_name = "host-a";
  ASSERT_TRUE(EstablishSession(1, 0, "Linux NFSv4.1 host-a\x01"));
  CompoundBuilder b(1);
  b.Sequence(session_id_, ++seqid_).PutRootFh().Lookup("data").Lookup("hello.txt");
  EXPECT_EQ(ReplyReader(Compound(b.Build())).status(), Stat::kOk);
  const uint64_t id40 = EstablishClient40("Linux NFSv4.0 host-b");
  ASSERT_NE(id40, 0u);
  spdlog::set_default_logger(previous);
  const std::string text = log.str();
  EXPECT_NE(text.find(fmt::format("nfs: client connected: clientid={:x} minor=1 "
                                  "addr=192.0.2.7:801 owner=\"Linux NFSv4.1 host-a\\x01\" "
                                  "machine=\"host-a\"",
                                  clientid_)),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(fmt::format("clientid={:x} minor=0 addr=192.0.2.7:801 owner=\"Linux "
                                  "NFSv4.0 host-b\"",
                                  id40)),
            std::string::npos)
      << text;
  std::size_t connected = 0;
  for (std::size_t p = text.find("client connected"); p != std::string::npos;
       p = text.find("client connected", p + 1)) {
    ++connected;
  }
  EXPECT_EQ(connected, 2u) << text;  // not again for the later ops of either client
}

TEST_F(Nfs4ProgramTest, UnknownSessionIsBadSession) {
  CompoundBuilder b(1);
  b.Sequence(Bytes(16, 7), 1).PutRootFh();
  EXPECT_EQ(ReplyReader(Compound(b.Build())).status(), Stat::kBadSession);
}

TEST_F(Nfs4ProgramTest, MinorVersionTwoRefusesUnimplementedOpsWithNotSupp) {
  ASSERT_TRUE(EstablishSession(2));
  CompoundBuilder b(2);
  b.Sequence(session_id_, ++seqid_).PutRootFh().Op(Op::kReadPlus);
  EXPECT_EQ(ReplyReader(Compound(b.Build())).status(), Stat::kNotSupp);
}

}  // namespace
}  // namespace bucketfs::nfs
