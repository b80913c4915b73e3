// rpc::Server over real loopback TCP with a test program.
#include "rpc/server.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <thread>

#include "rpc/message.h"
#include "rpc/record_marking.h"

namespace bucketfs::rpc {
namespace {

using asio::ip::tcp;

// Program 400000 v1-2: proc 1 echoes a u32 after waiting that many milliseconds (so replies can
// complete out of order); proc 2 → GARBAGE_ARGS; anything else → PROC_UNAVAIL.
class EchoProgram : public Program {
 public:
  uint32_t program_number() const override { return 400000; }
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
    co_return AcceptStat::kSuccess;
  }
};

Bytes CallBytes(uint32_t xid, uint32_t prog, uint32_t vers, uint32_t proc, uint32_t arg) {
  xdr::Encoder e;
  for (uint32_t v : {xid, 0u, 2u, prog, vers, proc, 0u, 0u, 0u, 0u, arg}) e.WriteU32(v);
  return e.Release();
}

Bytes Frame(const Bytes& record) {
  xdr::Encoder e;
  e.WriteU32(LastFragmentMark(static_cast<uint32_t>(record.size())));
  e.WriteRaw(record);
  return e.Release();
}

struct Reply {
  uint32_t xid = 0, reply_stat = 0, accept_stat = 0, value = 0;
};

bool ReadReply(tcp::socket& s, Reply* r) {
  uint8_t hdr[4];
  boost::system::error_code ec;
  asio::read(s, asio::buffer(hdr), ec);
  if (ec) return false;
  FragmentHeader f = ParseFragmentHeader(hdr);
  Bytes body(f.length);
  asio::read(s, asio::buffer(body), ec);
  if (ec) return false;
  xdr::Decoder d(body);
  uint32_t mtype, vf, vl;
  d.ReadU32(&r->xid);
  d.ReadU32(&mtype);
  d.ReadU32(&r->reply_stat);
  if (r->reply_stat != 0) return d.ok();
  d.ReadU32(&vf);
  d.ReadU32(&vl);
  d.ReadU32(&r->accept_stat);
  if (d.remaining() >= 4) d.ReadU32(&r->value);
  return d.ok();
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<Server>(io_.get_executor(), ServerOptions{64 * 1024, 128});
    server_->AddProgram(std::make_shared<EchoProgram>());
    ASSERT_TRUE(server_->Listen("127.0.0.1", 0).ok());
    server_->Start();
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    server_->Stop();
    work_.reset();
    io_.stop();
    thread_.join();
  }
  tcp::socket Connect() {
    tcp::socket s(client_io_);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
    return s;
  }
  Reply RoundTrip(const Bytes& call) {
    tcp::socket s = Connect();
    asio::write(s, asio::buffer(Frame(call)));
    Reply r;
    EXPECT_TRUE(ReadReply(s, &r));
    return r;
  }

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  asio::io_context client_io_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
};

TEST_F(ServerTest, AnswersNullSuccessAndErrors) {
  EXPECT_EQ(RoundTrip(CallBytes(1, 400000, 1, 0, 0)).accept_stat, 0u);  // NULL
  Reply r = RoundTrip(CallBytes(2, 400000, 2, 1, 5));
  EXPECT_EQ(r.xid, 2u);
  EXPECT_EQ(r.accept_stat, 0u);
  EXPECT_EQ(r.value, 5u);
  EXPECT_EQ(RoundTrip(CallBytes(3, 123, 1, 1, 0)).accept_stat, 1u);  // PROG_UNAVAIL
  Reply mismatch = RoundTrip(CallBytes(4, 400000, 3, 1, 0));
  EXPECT_EQ(mismatch.accept_stat, 2u);                                  // PROG_MISMATCH
  EXPECT_EQ(mismatch.value, 1u);                                        // low version
  EXPECT_EQ(RoundTrip(CallBytes(5, 400000, 1, 9, 0)).accept_stat, 3u);  // PROC_UNAVAIL
  EXPECT_EQ(RoundTrip(CallBytes(6, 400000, 1, 2, 0)).accept_stat, 4u);  // GARBAGE_ARGS
  Bytes bad_vers = CallBytes(7, 400000, 1, 1, 0);
  bad_vers[11] = 3;                               // rpcvers 3
  EXPECT_EQ(RoundTrip(bad_vers).reply_stat, 1u);  // MSG_DENIED
}

TEST_F(ServerTest, PipelinedCallsCompleteOutOfOrderWithMatchingXids) {
  tcp::socket s = Connect();
  Bytes all;
  for (uint32_t i = 0; i < 50; ++i) {
    Bytes f = Frame(CallBytes(1000 + i, 400000, 1, 1, (50 - i) * 2));  // later calls finish first
    all.insert(all.end(), f.begin(), f.end());
  }
  asio::write(s, asio::buffer(all));
  std::vector<bool> seen(50);
  uint32_t first_xid = 0;
  for (int i = 0; i < 50; ++i) {
    Reply r;
    ASSERT_TRUE(ReadReply(s, &r));
    if (i == 0) first_xid = r.xid;
    ASSERT_GE(r.xid, 1000u);
    ASSERT_LT(r.xid, 1050u);
    EXPECT_EQ(r.value, (50 - (r.xid - 1000)) * 2);
    seen[r.xid - 1000] = true;
  }
  EXPECT_NE(first_xid, 1000u);  // the slowest call was first on the wire
  EXPECT_EQ(std::count(seen.begin(), seen.end(), true), 50);
}

TEST_F(ServerTest, MultiFragmentRecord) {
  tcp::socket s = Connect();
  Bytes call = CallBytes(77, 400000, 1, 1, 0);
  xdr::Encoder e;
  e.WriteU32(10);  // first fragment, not last
  e.WriteRaw(ByteView(call).subspan(0, 10));
  e.WriteU32(LastFragmentMark(static_cast<uint32_t>(call.size() - 10)));
  e.WriteRaw(ByteView(call).subspan(10));
  asio::write(s, asio::buffer(e.buffer()));
  Reply r;
  ASSERT_TRUE(ReadReply(s, &r));
  EXPECT_EQ(r.xid, 77u);
  EXPECT_EQ(r.accept_stat, 0u);
}

TEST_F(ServerTest, OversizedRecordClosesOnlyThatConnection) {
  tcp::socket bad = Connect();
  tcp::socket good = Connect();
  xdr::Encoder e;
  e.WriteU32(LastFragmentMark(1u << 30));
  asio::write(bad, asio::buffer(e.buffer()));
  Reply r;
  EXPECT_FALSE(ReadReply(bad, &r));  // closed
  asio::write(good, asio::buffer(Frame(CallBytes(9, 400000, 1, 1, 0))));
  ASSERT_TRUE(ReadReply(good, &r));
  EXPECT_EQ(r.xid, 9u);
}

TEST_F(ServerTest, ListenOnAPortInUseSaysSo) {
  Server other(io_.get_executor(), ServerOptions{});
  Status s = other.Listen("127.0.0.1", server_->port());
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("already in use"), std::string::npos) << s.ToString();
}

}  // namespace
}  // namespace bucketfs::rpc
