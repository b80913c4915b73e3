// Read delegations over the wire (ops_open.cc, ops_state.cc, callback.cc): an OPEN for reading
// by a 4.1 client with a back channel gets one, a conflicting OPEN by another client is DELAYed
// while CB_RECALL goes out on the holder's back channel, DELEGRETURN lets it through, and a recall
// that cannot be delivered revokes the delegation.
#include "nfs/callback.h"

#include <gtest/gtest.h>

#include "nfs/op_util.h"
#include "nfs/ops_xdr.h"
#include "nfs/testing/compound_builder.h"
#include "nfs/testing/program_harness.h"
#include "rpc/reverse_call.h"

namespace bucketfs::nfs {
namespace {

using testing::CompoundBuilder;
using testing::ReplyReader;

// Records every callback and answers it (CB_COMPOUND4res with `status`), or fails the transport.
class FakeCaller : public rpc::ReverseCaller {
 public:
  struct Sent {
    uint64_t connection = 0;
    rpc::ReverseCallHeader header;
    Bytes args;
  };
  Awaitable<Result<Bytes>> Call(uint64_t connection_id, rpc::ReverseCallHeader header, Bytes args,
                                std::chrono::milliseconds) override {
    sent.push_back({connection_id, header, args});
    if (!transport_ok) co_return UnavailableError("connection closed");
    xdr::Encoder e;
    e.WriteU32(static_cast<uint32_t>(status));
    e.WriteString("");
    e.WriteU32(0);
    co_return e.Release();
  }
  std::vector<Sent> sent;
  bool transport_ok = true;
  Stat status = Stat::kOk;
};

struct RecallArgs {
  uint32_t minor = 0;
  uint32_t cb_seqid = 0;
  StateId stateid;
};

// Decodes the CB_COMPOUND of EncodeRecallCompound.
bool DecodeRecall(ByteView args, RecallArgs* out) {
  xdr::Decoder d(args);
  std::string tag;
  uint32_t ident = 0, n = 0, op = 0, slot = 0, highest = 0, lists = 0;
  ByteView sessionid, fh;
  bool cache = true, truncate = true;
  return d.ReadString(1024, &tag) && d.ReadU32(&out->minor) && d.ReadU32(&ident) && d.ReadU32(&n) &&
         n == 2 && d.ReadU32(&op) && op == 11 && d.ReadFixedOpaque(16, &sessionid) &&
         d.ReadU32(&out->cb_seqid) && d.ReadU32(&slot) && d.ReadU32(&highest) &&
         d.ReadBool(&cache) && d.ReadU32(&lists) && lists == 0 && d.ReadU32(&op) && op == 4 &&
         ReadStateId(d, &out->stateid) && d.ReadBool(&truncate) && !truncate &&
         d.ReadOpaque(128, &fh) && d.remaining() == 0;
}

class CallbackTest : public testing::ProgramHarness, public ::testing::Test {
 protected:
  void SetUp() override {
    program_->SetReverseCaller(caller_);
    // Client B on connection 2 without a back channel, client A on connection 1 with one.
    call_.connection_id = 2;
    ASSERT_TRUE(EstablishSession(1, 0, "client-b"));
    b_ = {session_id_, seqid_};
    call_.connection_id = 1;
    ASSERT_TRUE(EstablishSession(1, kCreateSessionConnBackChan, "client-a"));
    a_ = {session_id_, seqid_};
    me_ = &a_;
  }
  // Makes the next COMPOUNDs come from client B (connection 2) or A (connection 1).
  void BecomeB() {
    call_.connection_id = 2;
    me_ = &b_;
  }
  void BecomeA() {
    call_.connection_id = 1;
    me_ = &a_;
  }
  CompoundBuilder InData() {
    CompoundBuilder b(1);
    b.Sequence(me_->session, ++me_->seqid).PutRootFh().Lookup("data");
    return b;
  }
  // OPEN hello.txt with `access` (and `want` flags); the delegation type and stateid granted.
  Stat OpenHello(uint32_t access, uint32_t* deleg_type, StateId* deleg, StateId* open = nullptr) {
    CompoundBuilder b = InData();
    b.Open("hello.txt", access);
    ReplyReader r(Compound(b.Build()));
    uint32_t op = 0;
    Stat st = Stat::kOk;
    for (int i = 0; i < 4 && r.Next(&op, &st); ++i) {
      if (st != Stat::kOk) return st;
      if (op == static_cast<uint32_t>(Op::kSequence)) r.d().Skip(36);
      if (op != static_cast<uint32_t>(Op::kOpen)) continue;
      StateId sid;
      bool atomic = false;
      uint64_t before = 0, after = 0;
      uint32_t rflags = 0;
      Bitmap attrset;
      EXPECT_TRUE(ReadStateId(r.d(), &sid) && r.d().ReadBool(&atomic) && r.d().ReadU64(&before) &&
                  r.d().ReadU64(&after) && r.d().ReadU32(&rflags) && attrset.Decode(r.d()) &&
                  r.d().ReadU32(deleg_type));
      if (open) *open = sid;
      if (*deleg_type == kOpenDelegateRead) {
        EXPECT_TRUE(ReadStateId(r.d(), deleg));
      }
      return Stat::kOk;
    }
    return r.status();
  }
  Stat DelegReturn(const StateId& deleg) {
    CompoundBuilder b = InData();
    b.Lookup("hello.txt").Op(Op::kDelegReturn);
    WriteStateId(b.args(), deleg);
    return ReplyReader(Compound(b.Build())).status();
  }

  struct Client {
    Bytes session;
    uint32_t seqid = 0;
  };
  std::shared_ptr<FakeCaller> caller_ = std::make_shared<FakeCaller>();
  Client a_, b_;
  Client* me_ = nullptr;
};

TEST_F(CallbackTest, ReadOpenGetsADelegationThatAWriterRecalls) {
  uint32_t type = 99;
  StateId deleg;
  ASSERT_EQ(OpenHello(kShareAccessRead, &type, &deleg), Stat::kOk);
  ASSERT_EQ(type, kOpenDelegateRead);
  // READ with the delegation stateid.
  CompoundBuilder read = InData();
  read.Lookup("hello.txt").Read(deleg, 0, 100);
  EXPECT_EQ(ReplyReader(Compound(read.Build())).status(), Stat::kOk);

  BecomeB();
  uint32_t b_type = 99;
  StateId none;
  EXPECT_EQ(OpenHello(kShareAccessBoth, &b_type, &none), Stat::kDelay);
  ASSERT_EQ(caller_->sent.size(), 1u);
  const FakeCaller::Sent& cb = caller_->sent[0];
  EXPECT_EQ(cb.connection, 1u);  // A's back channel
  EXPECT_EQ(cb.header.program, 0x40000000u);
  EXPECT_EQ(cb.header.version, 1u);
  EXPECT_EQ(cb.header.procedure, 1u);  // CB_COMPOUND
  RecallArgs recall;
  ASSERT_TRUE(DecodeRecall(cb.args, &recall));
  EXPECT_EQ(recall.minor, 1u);
  EXPECT_EQ(recall.cb_seqid, 1u);
  EXPECT_TRUE(std::equal(std::begin(recall.stateid.other), std::end(recall.stateid.other),
                         std::begin(deleg.other)));
  // Still out: DELAY again, no second recall.
  EXPECT_EQ(OpenHello(kShareAccessBoth, &b_type, &none), Stat::kDelay);
  EXPECT_EQ(caller_->sent.size(), 1u);

  BecomeA();
  EXPECT_EQ(DelegReturn(deleg), Stat::kOk);
  BecomeB();
  EXPECT_EQ(OpenHello(kShareAccessBoth, &b_type, &none), Stat::kOk);
  EXPECT_NE(b_type, kOpenDelegateRead);
}

TEST_F(CallbackTest, AWriteOpenOrNoBackChannelGetsNoDelegation) {
  uint32_t type = 99;
  StateId deleg;
  ASSERT_EQ(OpenHello(kShareAccessBoth, &type, &deleg), Stat::kOk);
  EXPECT_EQ(type, kOpenDelegateNone);
  BecomeB();  // no back channel
  ASSERT_EQ(OpenHello(kShareAccessRead, &type, &deleg), Stat::kOk);
  EXPECT_EQ(type, kOpenDelegateNone);
}

TEST_F(CallbackTest, UndeliverableRecallRevokesTheDelegation) {
  caller_->transport_ok = false;
  uint32_t type = 99;
  StateId deleg;
  ASSERT_EQ(OpenHello(kShareAccessRead, &type, &deleg), Stat::kOk);
  ASSERT_EQ(type, kOpenDelegateRead);
  BecomeB();
  StateId none;
  EXPECT_EQ(OpenHello(kShareAccessBoth, &type, &none), Stat::kDelay);
  ASSERT_EQ(caller_->sent.size(), 1u);
  // The failed recall revoked it: B's retry goes through, A learns it from TEST_STATEID.
  EXPECT_EQ(OpenHello(kShareAccessBoth, &type, &none), Stat::kOk);
  BecomeA();
  CompoundBuilder test(1);
  test.Sequence(me_->session, ++me_->seqid).Op(Op::kTestStateId);
  test.args().WriteU32(1);
  WriteStateId(test.args(), deleg);
  ReplyReader r(Compound(test.Build()));
  ASSERT_EQ(r.status(), Stat::kOk);
  uint32_t op = 0, n = 0, code = 0;
  Stat st;
  ASSERT_TRUE(r.Next(&op, &st));
  r.d().Skip(36);
  ASSERT_TRUE(r.Next(&op, &st) && r.d().ReadU32(&n) && r.d().ReadU32(&code));
  EXPECT_EQ(static_cast<Stat>(code), Stat::kDelegRevoked);
  EXPECT_EQ(DelegReturn(deleg), Stat::kDelegRevoked);
}

}  // namespace
}  // namespace bucketfs::nfs
