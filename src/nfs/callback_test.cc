// Read delegations over the wire (ops_open.cc, ops_state.cc, callback.cc): an OPEN for reading
// by a 4.1 client with a back channel gets one, a conflicting OPEN by another client is DELAYed
// while CB_RECALL goes out on the holder's back channel, DELEGRETURN lets it through, and a recall
// that cannot be delivered revokes the delegation.
#include "nfs/callback.h"

#include <gtest/gtest.h>

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <thread>

#include "nfs/op_util.h"
#include "nfs/ops_xdr.h"
#include "nfs/testing/compound_builder.h"
#include "nfs/testing/program_harness.h"
#include "rpc/message.h"
#include "rpc/record_marking.h"
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

TEST(UniversalAddressTest, ParsesTcpAndTcp6AndRejectsTheRest) {
  std::string host;
  uint16_t port = 0;
  ASSERT_TRUE(ParseUniversalAddress("tcp", "127.0.0.1.3.232", &host, &port).ok());
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 1000);
  ASSERT_TRUE(ParseUniversalAddress("tcp6", "::1.0.80", &host, &port).ok());
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, 80);
  for (const auto& [netid, addr] :
       std::vector<std::pair<std::string, std::string>>{{"tcp", "127.0.0.1"},
                                                        {"tcp", "127.0.0.1.256.1"},
                                                        {"tcp", "127.0.0.1.1.-1"},
                                                        {"tcp", "::1.0.80"},
                                                        {"tcp6", "127.0.0.1.0.80"},
                                                        {"udp", "127.0.0.1.0.80"},
                                                        {"tcp", "host.example.0.80"},
                                                        {"tcp", ".1.2"},
                                                        {"tcp", ""}}) {
    EXPECT_EQ(ParseUniversalAddress(netid, addr, &host, &port).code(), ErrorCode::kInvalidArgument)
        << netid << " " << addr;
  }
}

TEST(RecallCompoundTest, For40CarriesTheCallbackIdentAndNoSequence) {
  CallbackPath path;
  path.minor = 0;
  path.cb40.ident = 0x1234;
  Recall recall;
  recall.stateid.seqid = 1;
  recall.stateid.other[0] = 9;
  const Bytes fh = {1, 2, 3};
  const Bytes args = EncodeRecallCompound(path, recall, fh);
  xdr::Decoder d(args);
  std::string tag;
  uint32_t minor = 9, ident = 0, n = 0, op = 0;
  StateId sid;
  bool truncate = true;
  ByteView got_fh;
  ASSERT_TRUE(d.ReadString(64, &tag) && d.ReadU32(&minor) && d.ReadU32(&ident) && d.ReadU32(&n) &&
              d.ReadU32(&op) && ReadStateId(d, &sid) && d.ReadBool(&truncate) &&
              d.ReadOpaque(128, &got_fh));
  EXPECT_EQ(minor, 0u);
  EXPECT_EQ(ident, 0x1234u);
  EXPECT_EQ(n, 1u);
  EXPECT_EQ(op, 4u);  // CB_RECALL
  EXPECT_EQ(sid.other[0], 9);
  EXPECT_FALSE(truncate);
  EXPECT_EQ(Bytes(got_fh.begin(), got_fh.end()), fh);
  EXPECT_EQ(d.remaining(), 0u);
}

// A 4.0 client's callback service on loopback: answers every call (CB_NULL with nothing,
// CB_COMPOUND with NFS4_OK) and records the procedure, credential flavor and arguments.
class Callback40Peer {
 public:
  struct Got {
    uint32_t program = 0, procedure = 0;
    rpc::AuthFlavor flavor = rpc::AuthFlavor::kNone;
    Bytes args;
  };
  explicit Callback40Peer(int calls)
      : acceptor_(io_, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        thread_([this, calls] { Serve(calls); }) {}
  ~Callback40Peer() {
    boost::system::error_code ec;
    acceptor_.close(ec);
    thread_.join();
  }
  // The universal address the client would give in SETCLIENTID.
  std::string uaddr() const {
    const uint16_t port = acceptor_.local_endpoint().port();
    return "127.0.0.1." + std::to_string(port >> 8) + "." + std::to_string(port & 0xff);
  }
  std::vector<Got> got() {
    std::lock_guard lock(mu_);
    return got_;
  }

 private:
  void Serve(int calls) {
    asio::ip::tcp::socket s(io_);
    boost::system::error_code ec;
    acceptor_.accept(s, ec);
    if (ec) return;
    rpc::RecordDecoder decoder(1 << 20);
    std::vector<Bytes> records;
    uint8_t byte;
    while (calls > 0) {
      asio::read(s, asio::buffer(&byte, 1), ec);
      if (ec || !decoder.Feed(ByteView(&byte, 1), &records).ok()) return;
      if (records.empty()) continue;
      rpc::CallContext ctx;
      ByteView args;
      if (rpc::DecodeCall(records[0], &ctx, &args) != rpc::CallDecode::kOk) return;
      {
        std::lock_guard lock(mu_);
        got_.push_back({ctx.program, ctx.procedure, ctx.flavor, Bytes(args.begin(), args.end())});
      }
      records.clear();
      xdr::Encoder e;
      const std::size_t stat = rpc::BeginAcceptedReply(e, ctx.xid);
      if (ctx.procedure == 1) {
        e.WriteU32(0);  // NFS4_OK
        e.WriteString("");
        e.WriteU32(1);
        e.WriteU32(4);  // CB_RECALL
        e.WriteU32(0);
      }
      rpc::FinishAcceptedReply(e, stat, rpc::AcceptStat::kSuccess);
      asio::write(s, asio::buffer(rpc::FrameRecord(e.buffer())), ec);
      --calls;
    }
    asio::read(s, asio::buffer(&byte, 1), ec);  // until the gateway closes
  }

  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  std::mutex mu_;
  std::vector<Got> got_;
  std::thread thread_;
};

// The 4.0 path end to end: CB_NULL probe after confirm, the delegation then granted, its recall
// sent as CB_COMPOUND(CB_RECALL) with the callback_ident over the same connection.
TEST(Callback40Test, ProbeThenRecallOverTheCallbackConnection) {
  Callback40Peer peer(2);
  asio::io_context io;
  auto work = asio::make_work_guard(io);
  std::thread runner([&] { io.run(); });
  auto state = std::make_shared<StateManager>(std::chrono::seconds(90), StateLimits{});
  auto service = std::make_shared<CallbackService>(
      io.get_executor(), state,
      [](const FileHandle&) {
        return Bytes{7, 7};
      },
      std::chrono::milliseconds(5000));

  SetClientIdArgs a;
  a.id = {'c', '4', '0'};
  a.cb_program = 0x40000000;
  a.r_netid = "tcp";
  a.r_addr = peer.uaddr();
  a.callback_ident = 99;
  Principal who;
  who.flavor = rpc::AuthFlavor::kSys;
  uint64_t id = 0;
  Verifier confirm{};
  ASSERT_EQ(state->SetClientId(who, a, &id, &confirm), Stat::kOk);
  ASSERT_EQ(state->SetClientIdConfirm(id, confirm), Stat::kOk);
  const FileHandle file{1, 42};
  EXPECT_FALSE(state->GrantReadDelegation(0, id, file, 1));
  service->Probe(id);
  std::optional<StateId> deleg;
  for (int i = 0; i < 500 && !deleg; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    deleg = state->GrantReadDelegation(0, id, file, 1);
  }
  ASSERT_TRUE(deleg) << "the probe never marked the callback path up";

  std::vector<Recall> recalls;
  ASSERT_TRUE(state->BreakDelegations(file, /*breaker=*/0, &recalls));
  service->Recall(std::move(recalls));
  for (int i = 0; i < 500 && service->sent() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(service->sent(), 1u);
  EXPECT_EQ(service->failed(), 0u);
  const auto got = peer.got();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].program, 0x40000000u);
  EXPECT_EQ(got[0].procedure, 0u);  // CB_NULL
  EXPECT_EQ(got[0].flavor, rpc::AuthFlavor::kSys);
  EXPECT_EQ(got[1].procedure, 1u);  // CB_COMPOUND
  xdr::Decoder d(got[1].args);
  std::string tag;
  uint32_t minor = 9, ident = 0;
  ASSERT_TRUE(d.ReadString(64, &tag) && d.ReadU32(&minor) && d.ReadU32(&ident));
  EXPECT_EQ(minor, 0u);
  EXPECT_EQ(ident, 99u);

  service.reset();  // closes the callback connection: the peer's thread ends
  work.reset();
  runner.join();
}

// A 4.0 client whose callback address does not answer gets no delegation.
TEST(Callback40Test, UnreachableCallbackPathStaysDown) {
  uint16_t port = 0;
  {
    asio::io_context probe_io;
    asio::ip::tcp::acceptor closed(probe_io,
                                   asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = closed.local_endpoint().port();
  }
  asio::io_context io;
  auto state = std::make_shared<StateManager>(std::chrono::seconds(90), StateLimits{});
  auto service = std::make_shared<CallbackService>(
      io.get_executor(), state, [](const FileHandle&) { return Bytes{}; },
      std::chrono::milliseconds(2000));
  SetClientIdArgs a;
  a.id = {'d'};
  a.cb_program = 0x40000000;
  a.r_netid = "tcp";
  a.r_addr = "127.0.0.1." + std::to_string(port >> 8) + "." + std::to_string(port & 0xff);
  uint64_t id = 0;
  Verifier confirm{};
  ASSERT_EQ(state->SetClientId(Principal{}, a, &id, &confirm), Stat::kOk);
  ASSERT_EQ(state->SetClientIdConfirm(id, confirm), Stat::kOk);
  service->Probe(id);
  io.run();  // the probe fails and nothing is left to do
  EXPECT_FALSE(state->GrantReadDelegation(0, id, FileHandle{1, 42}, 1));
}

}  // namespace
}  // namespace bucketfs::nfs
