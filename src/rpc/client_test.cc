// rpc::RpcClient against peers on loopback: rpc::Server with a test program, and raw sockets
// that answer late, twice, wrongly or not at all.
#include "rpc/client.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <future>
#include <thread>

#include "rpc/message.h"
#include "rpc/record_marking.h"
#include "rpc/server.h"

namespace bucketfs::rpc {
namespace {

using asio::ip::tcp;
using std::chrono::milliseconds;

constexpr uint32_t kProgram = 0x40000001;

// Proc 1 answers (value + 1, connection id); proc 2 PROC_UNAVAIL.
class PlusOne : public Program {
 public:
  uint32_t program_number() const override { return kProgram; }
  uint32_t min_version() const override { return 1; }
  uint32_t max_version() const override { return 1; }
  Awaitable<AcceptStat> Call(const CallContext& ctx, ByteView args,
                             xdr::Encoder& results) override {
    if (ctx.procedure != 1) co_return AcceptStat::kProcUnavail;
    xdr::Decoder d(args);
    uint32_t v = 0;
    if (!d.ReadU32(&v)) co_return AcceptStat::kGarbageArgs;
    results.WriteU32(v + 1);
    results.WriteU64(ctx.connection_id);
    co_return AcceptStat::kSuccess;
  }
};

class RpcClientTest : public ::testing::Test {
 protected:
  RpcClientTest() : work_(asio::make_work_guard(io_)), thread_([this] { io_.run(); }) {}
  ~RpcClientTest() override {
    work_.reset();
    io_.stop();
    thread_.join();
  }

  Result<Bytes> Call(RpcClient& client, uint32_t proc, uint32_t value, milliseconds timeout) {
    xdr::Encoder args;
    args.WriteU32(value);
    ReverseCallHeader h;
    h.program = kProgram;
    h.version = 1;
    h.procedure = proc;
    h.flavor = AuthFlavor::kSys;
    h.sys.machine_name = "bucketfs";
    std::promise<Result<Bytes>> done;
    auto result = done.get_future();
    asio::co_spawn(io_, CallInto(client, h, args.Release(), timeout, &done), asio::detached);
    return result.get();
  }

  static Awaitable<void> CallInto(RpcClient& client, ReverseCallHeader h, Bytes args,
                                  milliseconds timeout, std::promise<Result<Bytes>>* done) {
    done->set_value(co_await client.Call(h, args, timeout));
  }

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
};

// A loopback listener served by `serve(socket)` for each of `connections` accepted connections,
// in a thread of its own.
class RawPeer {
 public:
  template <typename F>
  RawPeer(int connections, F serve)
      : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        thread_([this, connections, serve]() mutable {
          for (int i = 0; i < connections; ++i) {
            tcp::socket s(io_);
            boost::system::error_code ec;
            acceptor_.accept(s, ec);
            if (ec) return;
            serve(s);
          }
        }) {}
  ~RawPeer() {
    boost::system::error_code ec;
    acceptor_.close(ec);
    thread_.join();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }

 private:
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::thread thread_;
};

bool ReadCall(tcp::socket& s, CallContext* ctx, uint32_t* value) {
  RecordDecoder decoder(1 << 20);
  std::vector<Bytes> records;
  uint8_t byte;
  boost::system::error_code ec;
  while (records.empty()) {
    asio::read(s, asio::buffer(&byte, 1), ec);
    if (ec || !decoder.Feed(ByteView(&byte, 1), &records).ok()) return false;
  }
  ByteView args;
  if (DecodeCall(records[0], ctx, &args) != CallDecode::kOk) return false;
  xdr::Decoder d(args);
  return d.ReadU32(value);
}

Bytes SuccessReply(uint32_t xid, uint32_t value) {
  xdr::Encoder e;
  const std::size_t stat = BeginAcceptedReply(e, xid);
  e.WriteU32(value);
  FinishAcceptedReply(e, stat, AcceptStat::kSuccess);
  return FrameRecord(e.buffer());
}

uint32_t FirstU32(const Bytes& results) {
  xdr::Decoder d(results);
  uint32_t v = 0;
  EXPECT_TRUE(d.ReadU32(&v));
  return v;
}

TEST_F(RpcClientTest, CallsReuseOneConnection) {
  Server server(io_.get_executor(), ServerOptions{});
  server.AddProgram(std::make_shared<PlusOne>());
  ASSERT_TRUE(server.Listen("127.0.0.1", 0).ok());
  server.Start();
  RpcClient client(io_.get_executor(), "127.0.0.1", server.port());
  auto first = Call(client, 1, 41, milliseconds(5000));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto second = Call(client, 1, 7, milliseconds(5000));
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  xdr::Decoder d1(*first), d2(*second);
  uint32_t v1 = 0, v2 = 0;
  uint64_t c1 = 0, c2 = 0;
  ASSERT_TRUE(d1.ReadU32(&v1) && d1.ReadU64(&c1) && d2.ReadU32(&v2) && d2.ReadU64(&c2));
  EXPECT_EQ(v1, 42u);
  EXPECT_EQ(v2, 8u);
  EXPECT_EQ(c1, c2);  // the same connection
  server.Stop();
}

TEST_F(RpcClientTest, AnErrorReplyNamesItsStatusAndKeepsTheConnection) {
  Server server(io_.get_executor(), ServerOptions{});
  server.AddProgram(std::make_shared<PlusOne>());
  ASSERT_TRUE(server.Listen("127.0.0.1", 0).ok());
  server.Start();
  RpcClient client(io_.get_executor(), "127.0.0.1", server.port());
  auto bad = Call(client, 2, 1, milliseconds(5000));
  ASSERT_EQ(bad.status().code(), ErrorCode::kProtocol);
  EXPECT_NE(bad.status().message().find("PROC_UNAVAIL"), std::string::npos);
  EXPECT_NE(bad.status().message().find("procedure 2"), std::string::npos);
  auto good = Call(client, 1, 1, milliseconds(5000));
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  EXPECT_EQ(FirstU32(*good), 2u);
  server.Stop();
}

TEST_F(RpcClientTest, NobodyListeningIsUnavailable) {
  uint16_t port = 0;
  {
    asio::io_context io;
    tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = a.local_endpoint().port();
  }  // closed: nothing listens there now
  RpcClient client(io_.get_executor(), "127.0.0.1", port);
  auto r = Call(client, 1, 1, milliseconds(5000));
  EXPECT_EQ(r.status().code(), ErrorCode::kUnavailable);
  EXPECT_NE(r.status().message().find("cannot connect to 127.0.0.1:" + std::to_string(port)),
            std::string::npos)
      << r.status().message();
}

TEST_F(RpcClientTest, NotAnAddressIsInvalid) {
  RpcClient client(io_.get_executor(), "callback.example", 1234);
  EXPECT_EQ(Call(client, 1, 1, milliseconds(100)).status().code(), ErrorCode::kInvalidArgument);
}

TEST_F(RpcClientTest, SilentPeerTimesOutAndTheNextCallReconnects) {
  // Connection 1 reads the call and never answers; connection 2 answers.
  RawPeer peer(2, [n = 0](tcp::socket& s) mutable {
    CallContext ctx;
    uint32_t v = 0;
    if (!ReadCall(s, &ctx, &v)) return;
    if (n++ == 0) {
      uint8_t byte;
      boost::system::error_code ec;
      asio::read(s, asio::buffer(&byte, 1), ec);  // until the client gives up and closes
      return;
    }
    asio::write(s, asio::buffer(SuccessReply(ctx.xid, v * 2)));
  });
  RpcClient client(io_.get_executor(), "127.0.0.1", peer.port());
  const auto start = std::chrono::steady_clock::now();
  auto r = Call(client, 1, 5, milliseconds(300));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.status().code(), ErrorCode::kTimeout) << r.status().ToString();
  EXPECT_GE(took, milliseconds(250));
  EXPECT_LT(took, milliseconds(3000));
  auto again = Call(client, 1, 5, milliseconds(5000));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(FirstU32(*again), 10u);
}

TEST_F(RpcClientTest, RecordsThatAreNotTheReplyAreSkipped) {
  RawPeer peer(1, [](tcp::socket& s) {
    CallContext ctx;
    uint32_t v = 0;
    if (!ReadCall(s, &ctx, &v)) return;
    Bytes out = SuccessReply(ctx.xid - 1, 999);  // a stale reply to an older call
    CallContext call;                            // a CALL from the peer
    call.xid = ctx.xid;
    call.program = 1;
    call.version = 1;
    xdr::Encoder e;
    EncodeCallHeader(e, call);
    AppendFramedRecord(e.buffer(), &out);
    Bytes right = SuccessReply(ctx.xid, v + 100);
    out.insert(out.end(), right.begin(), right.end());
    asio::write(s, asio::buffer(out));
    uint8_t byte;
    boost::system::error_code ec;
    asio::read(s, asio::buffer(&byte, 1), ec);
  });
  RpcClient client(io_.get_executor(), "127.0.0.1", peer.port());
  auto r = Call(client, 1, 1, milliseconds(5000));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(FirstU32(*r), 101u);
}

TEST_F(RpcClientTest, OversizedReplyFailsTheCall) {
  RawPeer peer(1, [](tcp::socket& s) {
    CallContext ctx;
    uint32_t v = 0;
    if (!ReadCall(s, &ctx, &v)) return;
    const uint32_t header = htonl(FragmentHeaderValue(true, 1 << 24));
    boost::system::error_code ec;
    asio::write(s, asio::buffer(&header, 4), ec);
    uint8_t byte;
    asio::read(s, asio::buffer(&byte, 1), ec);
  });
  RpcClient client(io_.get_executor(), "127.0.0.1", peer.port(), {.max_reply_size = 4096});
  auto r = Call(client, 1, 1, milliseconds(5000));
  EXPECT_EQ(r.status().code(), ErrorCode::kProtocol) << r.status().ToString();
}

TEST_F(RpcClientTest, PeerClosingBeforeTheReplyIsUnavailable) {
  RawPeer peer(1, [](tcp::socket& s) {
    CallContext ctx;
    uint32_t v = 0;
    ReadCall(s, &ctx, &v);
  });  // the socket closes when serve returns
  RpcClient client(io_.get_executor(), "127.0.0.1", peer.port());
  auto r = Call(client, 1, 1, milliseconds(5000));
  EXPECT_EQ(r.status().code(), ErrorCode::kUnavailable) << r.status().ToString();
  EXPECT_NE(r.status().message().find("closed the connection"), std::string::npos)
      << r.status().message();
}

}  // namespace
}  // namespace bucketfs::rpc
