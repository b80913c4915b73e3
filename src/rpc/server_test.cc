// rpc::Server over real loopback TCP (ephemeral ports) with a test program.
#include "rpc/server.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "rpc/message.h"
#include "rpc/record_marking.h"

namespace bucketfs::rpc {
namespace {

using asio::ip::tcp;

constexpr uint32_t kTestProgram = 400000;

// Program 400000 v1-2: proc 1 echoes a u32 after waiting that many milliseconds (so replies can
// complete out of order) and appends the connection id; proc 2 → GARBAGE_ARGS; anything else →
// PROC_UNAVAIL. Records the connections it was told were closed.
class EchoProgram : public Program {
 public:
  uint32_t program_number() const override { return kTestProgram; }
  uint32_t min_version() const override { return 1; }
  uint32_t max_version() const override { return 2; }
  Awaitable<AcceptStat> Call(const CallContext& ctx, ByteView args,
                             xdr::Encoder& results) override {
    if (ctx.procedure == 2) co_return AcceptStat::kGarbageArgs;
    if (ctx.procedure != 1) co_return AcceptStat::kProcUnavail;
    xdr::Decoder d(args);
    uint32_t v = 0;
    if (!d.ReadU32(&v)) co_return AcceptStat::kGarbageArgs;
    asio::steady_timer t(co_await asio::this_coro::executor);
    t.expires_after(std::chrono::milliseconds(v));
    co_await t.async_wait(asio::use_awaitable);
    results.WriteU32(v);
    results.WriteU64(ctx.connection_id);
    co_return AcceptStat::kSuccess;
  }
  void ConnectionClosed(uint64_t id) override {
    std::lock_guard lock(mu_);
    closed_.push_back(id);
  }
  std::vector<uint64_t> closed() {
    std::lock_guard lock(mu_);
    return closed_;
  }

 private:
  std::mutex mu_;
  std::vector<uint64_t> closed_;
};

Bytes CallRecord(uint32_t xid, uint32_t prog, uint32_t vers, uint32_t proc, uint32_t arg) {
  CallContext ctx;
  ctx.xid = xid;
  ctx.program = prog;
  ctx.version = vers;
  ctx.procedure = proc;
  xdr::Encoder e;
  EncodeCallHeader(e, ctx);
  e.WriteU32(arg);
  return e.Release();
}

struct Reply {
  ReplyHeader header;
  Bytes record;
  uint32_t value = 0;
  uint64_t connection_id = 0;
};

bool ReadReply(tcp::socket& s, Reply* r) {
  RecordDecoder decoder(1 << 20);
  std::vector<Bytes> records;
  uint8_t byte;
  boost::system::error_code ec;
  while (records.empty()) {  // byte at a time: never read past this record
    asio::read(s, asio::buffer(&byte, 1), ec);
    if (ec || !decoder.Feed(ByteView(&byte, 1), &records).ok()) return false;
  }
  r->record = std::move(records[0]);
  if (!DecodeReply(r->record, &r->header)) return false;
  xdr::Decoder d(r->header.results);
  if (d.remaining() >= 12) d.ReadU32(&r->value) && d.ReadU64(&r->connection_id);
  return true;
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(ServerOptions{64 * 1024, 128}); }
  void StartServer(ServerOptions options) {
    server_ = std::make_unique<Server>(io_.get_executor(), options);
    server_->AddProgram(program_);
    ASSERT_TRUE(server_->Listen("127.0.0.1", 0).ok());
    ASSERT_NE(server_->port(), 0);
    server_->Start();
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { io_.run(); });
  }
  void TearDown() override {
    server_->Stop();
    server_->Stop();  // idempotent
    server_.reset();
    work_.reset();
    io_.stop();
    for (auto& t : threads_) t.join();
  }
  tcp::socket Connect() {
    tcp::socket s(client_io_);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
    return s;
  }
  Reply RoundTrip(tcp::socket& s, const Bytes& call) {
    asio::write(s, asio::buffer(FrameRecord(call)));
    Reply r;
    EXPECT_TRUE(ReadReply(s, &r));
    return r;
  }
  Reply RoundTrip(const Bytes& call) {
    tcp::socket s = Connect();
    return RoundTrip(s, call);
  }

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  asio::io_context client_io_;
  std::shared_ptr<EchoProgram> program_ = std::make_shared<EchoProgram>();
  std::unique_ptr<Server> server_;
  std::vector<std::thread> threads_;
};

TEST_F(ServerTest, NullIsAnsweredByTheServer) {
  Reply r = RoundTrip(CallRecord(1, kTestProgram, 2, 0, 0));
  EXPECT_EQ(r.header.xid, 1u);
  EXPECT_EQ(r.header.reply_stat, ReplyStat::kAccepted);
  EXPECT_EQ(r.header.accept_stat, AcceptStat::kSuccess);
  EXPECT_TRUE(r.header.results.empty());
}

TEST_F(ServerTest, SuccessCarriesResults) {
  Reply r = RoundTrip(CallRecord(2, kTestProgram, 1, 1, 5));
  EXPECT_EQ(r.header.xid, 2u);
  EXPECT_EQ(r.header.accept_stat, AcceptStat::kSuccess);
  EXPECT_EQ(r.value, 5u);
  EXPECT_EQ(r.header.results.size(), 12u);
}

TEST_F(ServerTest, ErrorsFromTheServerAndTheProgram) {
  tcp::socket s = Connect();
  EXPECT_EQ(RoundTrip(s, CallRecord(3, 123, 1, 1, 0)).header.accept_stat, AcceptStat::kProgUnavail);
  Reply mismatch = RoundTrip(s, CallRecord(4, kTestProgram, 3, 1, 0));
  EXPECT_EQ(mismatch.header.accept_stat, AcceptStat::kProgMismatch);
  EXPECT_EQ(mismatch.header.mismatch_low, 1u);
  EXPECT_EQ(mismatch.header.mismatch_high, 2u);
  Reply proc = RoundTrip(s, CallRecord(5, kTestProgram, 1, 9, 0));
  EXPECT_EQ(proc.header.accept_stat, AcceptStat::kProcUnavail);
  EXPECT_TRUE(proc.header.results.empty());
  EXPECT_EQ(RoundTrip(s, CallRecord(6, kTestProgram, 1, 2, 0)).header.accept_stat,
            AcceptStat::kGarbageArgs);
}

TEST_F(ServerTest, DeniedReplies) {
  tcp::socket s = Connect();
  Bytes bad_vers = CallRecord(7, kTestProgram, 1, 1, 0);
  bad_vers[11] = 3;  // rpcvers 3
  Reply r = RoundTrip(s, bad_vers);
  EXPECT_EQ(r.header.xid, 7u);
  EXPECT_EQ(r.header.reply_stat, ReplyStat::kDenied);
  EXPECT_EQ(r.header.reject_stat, RejectStat::kRpcMismatch);
  EXPECT_EQ(r.header.mismatch_low, 2u);
  EXPECT_EQ(r.header.mismatch_high, 2u);

  Bytes gss = CallRecord(8, kTestProgram, 1, 1, 0);
  gss[27] = 6;  // credential flavor RPCSEC_GSS
  r = RoundTrip(s, gss);
  EXPECT_EQ(r.header.reply_stat, ReplyStat::kDenied);
  EXPECT_EQ(r.header.reject_stat, RejectStat::kAuthError);
  EXPECT_EQ(r.header.auth_stat, AuthStat::kTooWeak);
  // The connection still serves calls.
  EXPECT_EQ(RoundTrip(s, CallRecord(9, kTestProgram, 1, 1, 1)).value, 1u);
}

TEST_F(ServerTest, AuthSysCallIsServed) {
  CallContext ctx;
  ctx.xid = 10;
  ctx.program = kTestProgram;
  ctx.version = 1;
  ctx.procedure = 1;
  ctx.flavor = AuthFlavor::kSys;
  ctx.sys.machine_name = "client";
  ctx.sys.uid = 1000;
  ctx.sys.gids = {1, 2, 3};
  xdr::Encoder e;
  EncodeCallHeader(e, ctx);
  e.WriteU32(3);
  Reply r = RoundTrip(e.Release());
  EXPECT_EQ(r.header.accept_stat, AcceptStat::kSuccess);
  EXPECT_EQ(r.value, 3u);
}

TEST_F(ServerTest, PipelinedCallsCompleteOutOfOrderWithMatchingXids) {
  tcp::socket s = Connect();
  Bytes all;
  for (uint32_t i = 0; i < 50; ++i) {  // later calls finish first
    AppendFramedRecord(CallRecord(1000 + i, kTestProgram, 1, 1, (50 - i) * 2), &all);
  }
  asio::write(s, asio::buffer(all));
  std::vector<bool> seen(50);
  std::vector<uint32_t> order;
  for (int i = 0; i < 50; ++i) {
    Reply r;
    ASSERT_TRUE(ReadReply(s, &r));
    ASSERT_GE(r.header.xid, 1000u);
    ASSERT_LT(r.header.xid, 1050u);
    EXPECT_EQ(r.value, (50 - (r.header.xid - 1000)) * 2);
    EXPECT_FALSE(seen[r.header.xid - 1000]);
    seen[r.header.xid - 1000] = true;
    order.push_back(r.header.xid);
  }
  EXPECT_EQ(std::count(seen.begin(), seen.end(), true), 50);
  EXPECT_FALSE(std::is_sorted(order.begin(), order.end()));  // replies overtook each other
}

TEST_F(ServerTest, MultiFragmentRecord) {
  tcp::socket s = Connect();
  Bytes call = CallRecord(77, kTestProgram, 1, 1, 0);
  asio::write(s, asio::buffer(FrameRecord(call, 7)));
  Reply r;
  ASSERT_TRUE(ReadReply(s, &r));
  EXPECT_EQ(r.header.xid, 77u);
  EXPECT_EQ(r.header.accept_stat, AcceptStat::kSuccess);
}

TEST_F(ServerTest, OversizedRecordClosesOnlyThatConnection) {
  tcp::socket bad = Connect();
  tcp::socket good = Connect();
  xdr::Encoder e;
  e.WriteU32(FragmentHeaderValue(true, 1u << 30));
  asio::write(bad, asio::buffer(e.buffer()));
  Reply r;
  EXPECT_FALSE(ReadReply(bad, &r));  // closed
  r = RoundTrip(good, CallRecord(9, kTestProgram, 1, 1, 0));
  EXPECT_EQ(r.header.xid, 9u);
  EXPECT_EQ(r.header.accept_stat, AcceptStat::kSuccess);
}

TEST_F(ServerTest, GarbageClosesTheConnection) {
  tcp::socket s = Connect();
  const uint8_t junk[] = {1, 2};  // not even an xid
  asio::write(s, asio::buffer(FrameRecord(ByteView(junk, 2))));
  Reply r;
  EXPECT_FALSE(ReadReply(s, &r));
}

TEST_F(ServerTest, ConnectionIdsAreUniqueAndClosesAreReported) {
  std::set<uint64_t> ids;
  for (int i = 0; i < 3; ++i) {
    tcp::socket s = Connect();
    ids.insert(RoundTrip(s, CallRecord(i, kTestProgram, 1, 1, 0)).connection_id);
  }
  EXPECT_EQ(ids.size(), 3u);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (program_->closed().size() < 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::vector<uint64_t> closed = program_->closed();
  EXPECT_EQ(std::set<uint64_t>(closed.begin(), closed.end()), ids);
}

TEST_F(ServerTest, ListenOnAPortInUseSaysSo) {
  Server other(io_.get_executor(), ServerOptions{});
  Status s = other.Listen("127.0.0.1", server_->port());
  EXPECT_EQ(s.code(), ErrorCode::kExists);
  EXPECT_EQ(s.message(), "127.0.0.1:" + std::to_string(server_->port()) + " is already in use");
}

TEST_F(ServerTest, ListenOnABadAddressSaysSo) {
  Server other(io_.get_executor(), ServerOptions{});
  Status s = other.Listen("not-an-ip", 0);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.message().find("not-an-ip"), std::string::npos) << s.ToString();
}

TEST_F(ServerTest, StopClosesConnections) {
  tcp::socket s = Connect();
  EXPECT_EQ(RoundTrip(s, CallRecord(1, kTestProgram, 1, 0, 0)).header.xid, 1u);
  server_->Stop();
  Reply r;
  EXPECT_FALSE(ReadReply(s, &r));
}

class SmallInflightServerTest : public ServerTest {
 protected:
  void SetUp() override { StartServer(ServerOptions{64 * 1024, 2}); }
};

TEST_F(SmallInflightServerTest, CallsBeyondTheBoundWaitAndAreAnswered) {
  tcp::socket s = Connect();
  Bytes all;
  for (uint32_t i = 0; i < 20; ++i) AppendFramedRecord(CallRecord(i, kTestProgram, 1, 1, 1), &all);
  asio::write(s, asio::buffer(all));
  std::set<uint32_t> xids;
  for (int i = 0; i < 20; ++i) {
    Reply r;
    ASSERT_TRUE(ReadReply(s, &r));
    xids.insert(r.header.xid);
  }
  EXPECT_EQ(xids.size(), 20u);
}

}  // namespace
}  // namespace bucketfs::rpc
