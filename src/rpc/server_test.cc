// rpc::Server over real loopback TCP (ephemeral ports) with a test program.
#include "rpc/server.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <future>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "base/byte_budget.h"
#include "rpc/call_memory.h"
#include "rpc/message.h"
#include "rpc/record_marking.h"
#include "rpc/reverse_call.h"

namespace bucketfs::rpc {
namespace {

using asio::ip::tcp;

constexpr uint32_t kTestProgram = 400000;
constexpr uint32_t kCallbackProgram = 0x40000123;  // what the reverse calls call

// Program 400000 v1-2: proc 1 echoes a u32 after waiting that many milliseconds (so replies can
// complete out of order) and appends the connection id (bytes after the u32 are ignored); proc 2 →
// GARBAGE_ARGS; proc 3 makes a reverse call (see ReverseCallRecord); proc 4 answers a large reply
// charged to the reply budget (see BigReplyRecord); anything else → PROC_UNAVAIL. Records the
// connections it was told were closed.
class EchoProgram : public Program {
 public:
  uint32_t program_number() const override { return kTestProgram; }
  uint32_t min_version() const override { return 1; }
  uint32_t max_version() const override { return 2; }
  Awaitable<AcceptStat> Call(const CallContext& ctx, ByteView args,
                             xdr::Encoder& results) override {
    if (ctx.procedure == 2) co_return AcceptStat::kGarbageArgs;
    if (ctx.procedure == 3) co_return co_await CallBack(ctx, args, results);
    if (ctx.procedure == 4) co_return co_await BigReply(ctx, args, results);
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
  void SetReverseCaller(std::shared_ptr<ReverseCaller> caller) override {
    caller_ = std::move(caller);  // before serving
  }
  std::vector<uint64_t> closed() {
    std::lock_guard lock(mu_);
    return closed_;
  }

 private:
  // Proc 4, args (u32 delay ms, u32 n): charges n bytes to the reply budget, waits, and answers
  // u32 n then n bytes (0xab), holding the charge until the reply is written.
  Awaitable<AcceptStat> BigReply(const CallContext& ctx, ByteView args, xdr::Encoder& results) {
    xdr::Decoder d(args);
    uint32_t delay_ms = 0, n = 0;
    if (!d.ReadU32(&delay_ms) || !d.ReadU32(&n)) co_return AcceptStat::kGarbageArgs;
    if (ctx.memory == nullptr) co_return AcceptStat::kSystemErr;
    Result<ByteBudget::Grant> grant = co_await ctx.memory->Acquire(n);
    if (!grant.ok()) co_return AcceptStat::kSystemErr;
    asio::steady_timer t(co_await asio::this_coro::executor);
    t.expires_after(std::chrono::milliseconds(delay_ms));
    co_await t.async_wait(asio::use_awaitable);
    results.WriteU32(n);
    results.WriteRaw(Bytes(n, 0xab));
    ctx.memory->HoldUntilSent(std::move(grant).value());
    co_return AcceptStat::kSuccess;
  }

  // Proc 3, args (u64 connection id or 0 for this one, u32 timeout ms, u32 value): calls
  // kCallbackProgram v1 proc 1 (AUTH_SYS "bucketfs" 0/0) with the value on that connection and
  // returns u32 ErrorCode, then the reverse call's results (OK) or its error message (string).
  Awaitable<AcceptStat> CallBack(const CallContext& ctx, ByteView args, xdr::Encoder& results) {
    xdr::Decoder d(args);
    uint64_t target = 0;
    uint32_t timeout_ms = 0, value = 0;
    if (!d.ReadU64(&target) || !d.ReadU32(&timeout_ms) || !d.ReadU32(&value)) {
      co_return AcceptStat::kGarbageArgs;
    }
    if (caller_ == nullptr) co_return AcceptStat::kSystemErr;
    ReverseCallHeader header;
    header.program = kCallbackProgram;
    header.version = 1;
    header.procedure = 1;
    header.flavor = AuthFlavor::kSys;
    header.sys.machine_name = "bucketfs";
    xdr::Encoder cb_args;
    cb_args.WriteU32(value);
    const auto before = co_await asio::this_coro::executor;
    Result<Bytes> r =
        co_await caller_->Call(target != 0 ? target : ctx.connection_id, header, cb_args.Release(),
                               std::chrono::milliseconds(timeout_ms));
    if (before != co_await asio::this_coro::executor) co_return AcceptStat::kSystemErr;
    results.WriteU32(static_cast<uint32_t>(r.status().code()));
    if (r.ok()) {
      results.WriteRaw(*r);
    } else {
      results.WriteString(r.status().message());
    }
    co_return AcceptStat::kSuccess;
  }

  std::mutex mu_;
  std::vector<uint64_t> closed_;
  std::shared_ptr<ReverseCaller> caller_;
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

bool ReadRecord(tcp::socket& s, Bytes* record) {
  RecordDecoder decoder(1 << 20);
  std::vector<Bytes> records;
  uint8_t byte;
  boost::system::error_code ec;
  while (records.empty()) {  // byte at a time: never read past this record
    asio::read(s, asio::buffer(&byte, 1), ec);
    if (ec || !decoder.Feed(ByteView(&byte, 1), &records).ok()) return false;
  }
  *record = std::move(records[0]);
  return true;
}

bool ReadReply(tcp::socket& s, Reply* r) {
  if (!ReadRecord(s, &r->record)) return false;
  if (!DecodeReply(r->record, &r->header)) return false;
  xdr::Decoder d(r->header.results);
  if (d.remaining() >= 12) d.ReadU32(&r->value) && d.ReadU64(&r->connection_id);
  return true;
}

// A call of proc 4 (a reply of `n` bytes after `delay_ms`), padded with `padding` bytes.
Bytes BigReplyRecord(uint32_t xid, uint32_t delay_ms, uint32_t n, std::size_t padding = 0) {
  CallContext ctx;
  ctx.xid = xid;
  ctx.program = kTestProgram;
  ctx.version = 1;
  ctx.procedure = 4;
  xdr::Encoder e;
  EncodeCallHeader(e, ctx);
  e.WriteU32(delay_ms);
  e.WriteU32(n);
  e.WriteRaw(Bytes(padding, 0));
  return e.Release();
}

// A call of proc 1 (answered after `delay_ms`) padded to `size` bytes, like a WRITE.
Bytes PaddedCallRecord(uint32_t xid, uint32_t delay_ms, std::size_t size) {
  Bytes call = CallRecord(xid, kTestProgram, 1, 1, delay_ms);
  if (call.size() < size) call.resize(size, 0x5a);
  return call;
}

// Reads one single-fragment reply of any size (the server sends replies as one fragment).
bool ReadLargeReply(tcp::socket& s, Reply* r) {
  uint8_t header[4];
  boost::system::error_code ec;
  asio::read(s, asio::buffer(header), ec);
  if (ec) return false;
  const FragmentHeader h = ParseFragmentHeader(header);
  if (!h.last) return false;
  r->record.resize(h.length);
  asio::read(s, asio::buffer(r->record), ec);
  return !ec && DecodeReply(r->record, &r->header);
}

// Polls `pred` until it holds or 5 s pass.
template <typename Pred>
bool Eventually(Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

// A call of proc 3: the server calls back on connection `target` (0: the calling one).
Bytes ReverseCallRecord(uint32_t xid, uint64_t target, uint32_t timeout_ms, uint32_t value) {
  CallContext ctx;
  ctx.xid = xid;
  ctx.program = kTestProgram;
  ctx.version = 1;
  ctx.procedure = 3;
  xdr::Encoder e;
  EncodeCallHeader(e, ctx);
  e.WriteU64(target);
  e.WriteU32(timeout_ms);
  e.WriteU32(value);
  return e.Release();
}

// The server's reverse CALL as the client reads it.
struct ServerCall {
  CallContext ctx;
  uint32_t value = 0;
};

bool ReadServerCall(tcp::socket& s, ServerCall* call) {
  Bytes record;
  ByteView args;
  if (!ReadRecord(s, &record) || DecodeCall(record, &call->ctx, &args) != CallDecode::kOk) {
    return false;
  }
  xdr::Decoder d(args);
  return d.ReadU32(&call->value) && d.remaining() == 0;
}

// The client's answer to a reverse call: SUCCESS carrying `value`, or `stat` without results.
void SendCallbackReply(tcp::socket& s, uint32_t xid, AcceptStat stat, uint32_t value) {
  xdr::Encoder e;
  const std::size_t stat_offset = BeginAcceptedReply(e, xid);
  e.WriteU32(value);
  FinishAcceptedReply(e, stat_offset, stat);
  asio::write(s, asio::buffer(FrameRecord(e.buffer())));
}

// What proc 3 reports about its reverse call.
struct CallBackResult {
  ErrorCode code = ErrorCode::kInternal;
  uint32_t value = 0;   // when kOk
  std::string message;  // otherwise
};

CallBackResult ParseCallBack(const Reply& r) {
  CallBackResult out;
  EXPECT_EQ(r.header.accept_stat, AcceptStat::kSuccess);
  xdr::Decoder d(r.header.results);
  uint32_t code = 0;
  EXPECT_TRUE(d.ReadU32(&code));
  out.code = static_cast<ErrorCode>(code);
  if (out.code == ErrorCode::kOk) {
    EXPECT_TRUE(d.ReadU32(&out.value));
  } else {
    EXPECT_TRUE(d.ReadString(1024, &out.message));
  }
  EXPECT_EQ(d.remaining(), 0u);
  return out;
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
    s.set_option(tcp::no_delay(true));  // back-to-back small writes must not wait for ACKs
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

// Runs server_->Drain(timeout) on the server's io_context; the future is ready when it is done.
std::future<void> StartDrain(asio::io_context& io, Server& server,
                             std::chrono::milliseconds timeout) {
  return asio::co_spawn(io, server.Drain(timeout), asio::use_future);
}

TEST_F(ServerTest, DrainAnswersTheCallsInFlightThenCloses) {
  tcp::socket s = Connect();
  Bytes all;
  for (uint32_t i = 0; i < 3; ++i)
    AppendFramedRecord(CallRecord(10 + i, kTestProgram, 1, 1, 300 - i * 100), &all);
  asio::write(s, asio::buffer(all));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the calls are read and running
  const auto start = std::chrono::steady_clock::now();
  std::future<void> drained = StartDrain(io_, *server_, std::chrono::seconds(10));
  std::set<uint32_t> xids;
  for (int i = 0; i < 3; ++i) {
    Reply r;
    ASSERT_TRUE(ReadReply(s, &r));
    xids.insert(r.header.xid);
  }
  EXPECT_EQ(xids, (std::set<uint32_t>{10, 11, 12}));
  Reply r;
  EXPECT_FALSE(ReadReply(s, &r));  // then closed
  ASSERT_EQ(drained.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  tcp::socket late(client_io_);
  boost::system::error_code ec;
  late.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()), ec);
  EXPECT_TRUE(ec) << "the listener is closed";
}

TEST_F(ServerTest, DrainClosesIdleConnectionsAtOnceAndSlowCallsAtTheTimeout) {
  tcp::socket idle = Connect();
  EXPECT_EQ(RoundTrip(idle, CallRecord(1, kTestProgram, 1, 1, 0)).header.xid, 1u);
  tcp::socket slow = Connect();
  asio::write(slow, asio::buffer(FrameRecord(CallRecord(2, kTestProgram, 1, 1, 5000))));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const auto start = std::chrono::steady_clock::now();
  std::future<void> drained = StartDrain(io_, *server_, std::chrono::milliseconds(300));
  Reply r;
  EXPECT_FALSE(ReadReply(idle, &r));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(250));
  EXPECT_FALSE(ReadReply(slow, &r));
  ASSERT_EQ(drained.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  server_->Stop();  // after a drain: nothing left to do
}

TEST_F(ServerTest, ReverseCallRoundTrip) {
  tcp::socket s = Connect();
  asio::write(s, asio::buffer(FrameRecord(ReverseCallRecord(50, 0, 5000, 7))));
  ServerCall call;
  ASSERT_TRUE(ReadServerCall(s, &call));
  EXPECT_EQ(call.ctx.program, kCallbackProgram);
  EXPECT_EQ(call.ctx.version, 1u);
  EXPECT_EQ(call.ctx.procedure, 1u);
  EXPECT_EQ(call.ctx.flavor, AuthFlavor::kSys);
  EXPECT_EQ(call.ctx.sys.machine_name, "bucketfs");
  EXPECT_EQ(call.ctx.sys.uid, 0u);
  EXPECT_EQ(call.value, 7u);
  // A reply to an xid the server never used is ignored; then the real one.
  SendCallbackReply(s, call.ctx.xid ^ 0x5a5a5a5a, AcceptStat::kSuccess, 1);
  SendCallbackReply(s, call.ctx.xid, AcceptStat::kSuccess, 70);
  Reply r;
  ASSERT_TRUE(ReadReply(s, &r));
  EXPECT_EQ(r.header.xid, 50u);
  CallBackResult got = ParseCallBack(r);
  EXPECT_EQ(got.code, ErrorCode::kOk) << got.message;
  EXPECT_EQ(got.value, 70u);
  // The connection goes on serving; the next reverse call gets a fresh xid.
  EXPECT_EQ(RoundTrip(s, CallRecord(51, kTestProgram, 1, 1, 2)).value, 2u);
  asio::write(s, asio::buffer(FrameRecord(ReverseCallRecord(52, 0, 5000, 8))));
  ServerCall second;
  ASSERT_TRUE(ReadServerCall(s, &second));
  EXPECT_NE(second.ctx.xid, call.ctx.xid);
  SendCallbackReply(s, second.ctx.xid, AcceptStat::kSuccess, 80);
  ASSERT_TRUE(ReadReply(s, &r));
  EXPECT_EQ(ParseCallBack(r).value, 80u);
}

TEST_F(ServerTest, ConcurrentReverseCallsAreMatchedByXid) {
  tcp::socket s = Connect();
  Bytes both;
  AppendFramedRecord(ReverseCallRecord(1, 0, 5000, 1), &both);
  AppendFramedRecord(ReverseCallRecord(2, 0, 5000, 2), &both);
  asio::write(s, asio::buffer(both));
  ServerCall a, b;
  ASSERT_TRUE(ReadServerCall(s, &a));
  ASSERT_TRUE(ReadServerCall(s, &b));
  EXPECT_NE(a.ctx.xid, b.ctx.xid);
  SendCallbackReply(s, b.ctx.xid, AcceptStat::kSuccess, b.value * 10);  // in reverse order
  SendCallbackReply(s, a.ctx.xid, AcceptStat::kSuccess, a.value * 10);
  for (int i = 0; i < 2; ++i) {
    Reply r;
    ASSERT_TRUE(ReadReply(s, &r));
    ASSERT_TRUE(r.header.xid == 1 || r.header.xid == 2) << r.header.xid;
    EXPECT_EQ(ParseCallBack(r).value, r.header.xid * 10);
  }
}

TEST_F(ServerTest, ReverseCallTimesOut) {
  tcp::socket s = Connect();
  const auto start = std::chrono::steady_clock::now();
  asio::write(s, asio::buffer(FrameRecord(ReverseCallRecord(60, 0, 200, 1))));
  ServerCall call;
  ASSERT_TRUE(ReadServerCall(s, &call));  // and never answered
  Reply r;
  ASSERT_TRUE(ReadReply(s, &r));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.header.xid, 60u);
  CallBackResult got = ParseCallBack(r);
  EXPECT_EQ(got.code, ErrorCode::kTimeout) << got.message;
  EXPECT_GE(elapsed, std::chrono::milliseconds(190));
  EXPECT_LT(elapsed, std::chrono::seconds(2));
  // A late answer is dropped and the connection goes on serving.
  SendCallbackReply(s, call.ctx.xid, AcceptStat::kSuccess, 1);
  EXPECT_EQ(RoundTrip(s, CallRecord(61, kTestProgram, 1, 1, 3)).value, 3u);
}

TEST_F(ServerTest, ReverseCallFailsWhenItsConnectionCloses) {
  tcp::socket back = Connect();  // the backchannel; the call comes in on `fore`
  const uint64_t back_id = RoundTrip(back, CallRecord(1, kTestProgram, 1, 1, 0)).connection_id;
  tcp::socket fore = Connect();
  const auto start = std::chrono::steady_clock::now();
  asio::write(fore, asio::buffer(FrameRecord(ReverseCallRecord(70, back_id, 10000, 1))));
  ServerCall call;
  ASSERT_TRUE(ReadServerCall(back, &call));
  back.close();
  Reply r;
  ASSERT_TRUE(ReadReply(fore, &r));
  EXPECT_EQ(r.header.xid, 70u);
  CallBackResult got = ParseCallBack(r);
  EXPECT_EQ(got.code, ErrorCode::kUnavailable) << got.message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  // Once it is gone, calls to it fail at once.
  r = RoundTrip(fore, ReverseCallRecord(71, back_id, 10000, 1));
  EXPECT_EQ(ParseCallBack(r).code, ErrorCode::kUnavailable);
}

TEST_F(ServerTest, ReverseCallToAnUnknownConnectionIsUnavailable) {
  Reply r = RoundTrip(ReverseCallRecord(80, 999999, 5000, 1));
  CallBackResult got = ParseCallBack(r);
  EXPECT_EQ(got.code, ErrorCode::kUnavailable);
  EXPECT_NE(got.message.find("999999"), std::string::npos) << got.message;
}

TEST_F(ServerTest, RejectedReverseCallsAreProtocolErrors) {
  tcp::socket s = Connect();
  auto answer = [&s](uint32_t xid, auto send) {
    asio::write(s, asio::buffer(FrameRecord(ReverseCallRecord(xid, 0, 5000, 1))));
    ServerCall call;
    EXPECT_TRUE(ReadServerCall(s, &call));
    send(call.ctx.xid);
    Reply r;
    EXPECT_TRUE(ReadReply(s, &r));
    EXPECT_EQ(r.header.xid, xid);
    return ParseCallBack(r);
  };
  CallBackResult got =
      answer(90, [&s](uint32_t xid) { SendCallbackReply(s, xid, AcceptStat::kProcUnavail, 0); });
  EXPECT_EQ(got.code, ErrorCode::kProtocol);
  EXPECT_NE(got.message.find("PROC_UNAVAIL"), std::string::npos) << got.message;
  got = answer(91, [&s](uint32_t xid) {
    xdr::Encoder e;
    EncodeDeniedAuth(e, xid, AuthStat::kTooWeak);
    asio::write(s, asio::buffer(FrameRecord(e.buffer())));
  });
  EXPECT_EQ(got.code, ErrorCode::kProtocol);
  EXPECT_NE(got.message.find("AUTH_TOOWEAK"), std::string::npos) << got.message;
  got = answer(92, [&s](uint32_t xid) {
    xdr::Encoder e;
    e.WriteU32(xid);
    e.WriteU32(1);  // REPLY
    e.WriteU32(7);  // no such reply_stat
    asio::write(s, asio::buffer(FrameRecord(e.buffer())));
  });
  EXPECT_EQ(got.code, ErrorCode::kProtocol);
  EXPECT_NE(got.message.find("malformed"), std::string::npos) << got.message;
}

TEST_F(ServerTest, ReverseCallsFailOnceTheServerStops) {
  tcp::socket s = Connect();
  asio::write(s, asio::buffer(FrameRecord(ReverseCallRecord(95, 0, 10000, 1))));
  ServerCall call;
  ASSERT_TRUE(ReadServerCall(s, &call));
  const auto start = std::chrono::steady_clock::now();
  server_->Stop();
  Reply r;
  EXPECT_FALSE(ReadReply(s, &r));  // closed; the waiting call ends at once
  auto deadline = start + std::chrono::seconds(2);
  while (program_->closed().empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(program_->closed().size(), 1u);
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

class SingleInflightServerTest : public ServerTest {
 protected:
  void SetUp() override { StartServer(ServerOptions{64 * 1024, 1}); }
};

TEST_F(SingleInflightServerTest, ReverseReplyNeedsNoInflightSlot) {
  tcp::socket s = Connect();
  const auto start = std::chrono::steady_clock::now();
  // The call holds the only slot while it waits for the reply the reader must still take in.
  asio::write(s, asio::buffer(FrameRecord(ReverseCallRecord(5, 0, 5000, 4))));
  ServerCall call;
  ASSERT_TRUE(ReadServerCall(s, &call));
  SendCallbackReply(s, call.ctx.xid, AcceptStat::kSuccess, 44);
  Reply r;
  ASSERT_TRUE(ReadReply(s, &r));
  CallBackResult got = ParseCallBack(r);
  EXPECT_EQ(got.code, ErrorCode::kOk) << got.message;
  EXPECT_EQ(got.value, 44u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

class BudgetServerTest : public ServerTest {
 protected:
  static constexpr std::size_t kMaxRecord = 64 * 1024;
  void SetUp() override {}
  void Start(std::size_t request_bytes, std::size_t reply_bytes, std::size_t max_connections = 16) {
    request_budget_ = std::make_shared<ByteBudget>(request_bytes);
    reply_budget_ = std::make_shared<ByteBudget>(reply_bytes);
    ServerOptions o{kMaxRecord, 128};
    o.max_connections = max_connections;
    o.request_budget = request_budget_;
    o.reply_budget = reply_budget_;
    StartServer(o);
  }
  std::shared_ptr<ByteBudget> request_budget_;
  std::shared_ptr<ByteBudget> reply_budget_;
};

TEST_F(BudgetServerTest, ARecordIsChargedBeforeItsBodyArrivesAndReleasedWithItsReply) {
  Start(1 << 20, 1 << 20);
  tcp::socket s = Connect();
  const Bytes call = PaddedCallRecord(1, 0, 40'000);
  const Bytes framed = FrameRecord(call);
  asio::write(s, asio::buffer(framed.data(), 4 + 1000));  // the header and a little of the body
  EXPECT_TRUE(Eventually([&] { return request_budget_->stats().in_use == call.size(); }))
      << request_budget_->stats().in_use;
  asio::write(s, asio::buffer(framed.data() + 4 + 1000, framed.size() - 4 - 1000));
  Reply r;
  ASSERT_TRUE(ReadReply(s, &r));
  EXPECT_EQ(r.header.xid, 1u);
  EXPECT_EQ(r.header.accept_stat, AcceptStat::kSuccess);
  EXPECT_TRUE(Eventually([&] { return request_budget_->stats().in_use == 0; }));
}

TEST_F(BudgetServerTest, ARecordThatMayHaveMoreFragmentsIsChargedTheMaximumUntilComplete) {
  Start(1 << 20, 1 << 20);
  tcp::socket s = Connect();
  const Bytes call = PaddedCallRecord(2, 0, 3000);
  const Bytes framed = FrameRecord(call, 1000);  // three fragments
  asio::write(s, asio::buffer(framed.data(), 4 + 1000 + 4 + 10));
  EXPECT_TRUE(Eventually([&] { return request_budget_->stats().in_use == kMaxRecord; }))
      << request_budget_->stats().in_use;
  asio::write(s, asio::buffer(framed.data() + 1018, framed.size() - 1018));
  Reply r;
  ASSERT_TRUE(ReadReply(s, &r));
  EXPECT_EQ(r.header.xid, 2u);
  EXPECT_TRUE(Eventually([&] { return request_budget_->stats().in_use == 0; }));
}

TEST_F(BudgetServerTest, ReadersWaitWhileTheRequestBudgetIsExhausted) {
  constexpr std::size_t kBudget = 100'000;
  Start(kBudget, 1 << 20);
  std::vector<tcp::socket> sockets;
  for (int c = 0; c < 4; ++c) {
    sockets.push_back(Connect());
    Bytes all;
    for (uint32_t i = 0; i < 3; ++i) {  // 12 calls of 40 KB, each held 30 ms: 480 KB > 100 KB
      AppendFramedRecord(PaddedCallRecord(c * 10 + i, 30, 40'000), &all);
    }
    asio::write(sockets.back(), asio::buffer(all));
  }
  for (int c = 0; c < 4; ++c) {
    std::set<uint32_t> xids;
    for (int i = 0; i < 3; ++i) {
      Reply r;
      ASSERT_TRUE(ReadReply(sockets[c], &r));
      EXPECT_EQ(r.header.accept_stat, AcceptStat::kSuccess);
      xids.insert(r.header.xid);
    }
    EXPECT_EQ(xids.size(), 3u);
  }
  const ByteBudget::Stats st = request_budget_->stats();
  EXPECT_LE(st.peak, kBudget);
  EXPECT_GT(st.waits, 0u);
  EXPECT_TRUE(Eventually([&] { return request_budget_->stats().in_use == 0; }));
}

TEST_F(BudgetServerTest, ReplyBytesAreHeldUntilTheReplyIsWritten) {
  constexpr uint32_t kReply = 32 << 20;  // far more than the socket buffers take in
  Start(1 << 20, 64 << 20);
  tcp::socket s = Connect();
  asio::write(s, asio::buffer(FrameRecord(BigReplyRecord(3, 0, kReply))));
  EXPECT_TRUE(Eventually([&] { return reply_budget_->stats().in_use >= kReply; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the client reads nothing
  EXPECT_GE(reply_budget_->stats().in_use, kReply) << "released before the reply was written";
  Reply r;
  ASSERT_TRUE(ReadLargeReply(s, &r));
  EXPECT_EQ(r.header.xid, 3u);
  EXPECT_EQ(r.header.results.size(), 4u + kReply);
  EXPECT_TRUE(Eventually([&] { return reply_budget_->stats().in_use == 0; }));
}

TEST_F(BudgetServerTest, ConcurrentRepliesStayWithinTheReplyBudget) {
  constexpr std::size_t kBudget = 1 << 20;
  constexpr uint32_t kReply = 256 << 10;
  Start(1 << 20, kBudget);
  std::vector<tcp::socket> sockets;
  for (int c = 0; c < 8; ++c) {
    sockets.push_back(Connect());
    Bytes all;
    for (uint32_t i = 0; i < 4; ++i) AppendFramedRecord(BigReplyRecord(i, 10, kReply), &all);
    asio::write(sockets.back(), asio::buffer(all));
  }
  for (auto& s : sockets) {
    for (int i = 0; i < 4; ++i) {
      Reply r;
      ASSERT_TRUE(ReadLargeReply(s, &r));
      EXPECT_EQ(r.header.accept_stat, AcceptStat::kSuccess);
      EXPECT_EQ(r.header.results.size(), 4u + kReply);
    }
  }
  const ByteBudget::Stats st = reply_budget_->stats();
  EXPECT_LE(st.peak, kBudget);
  EXPECT_GT(st.waits, 0u) << "32 replies of 256 KiB against 1 MiB should have waited";
  EXPECT_TRUE(Eventually([&] { return reply_budget_->stats().in_use == 0; }));
}

TEST_F(BudgetServerTest, ConnectionsBeyondTheLimitAreRefused) {
  Start(1 << 20, 1 << 20, /*max_connections=*/2);
  tcp::socket a = Connect();
  tcp::socket b = Connect();
  EXPECT_EQ(RoundTrip(a, CallRecord(1, kTestProgram, 1, 1, 0)).header.xid, 1u);
  EXPECT_EQ(RoundTrip(b, CallRecord(2, kTestProgram, 1, 1, 0)).header.xid, 2u);
  tcp::socket refused = Connect();  // accepted by the kernel, then closed by the server
  asio::write(refused, asio::buffer(FrameRecord(CallRecord(3, kTestProgram, 1, 1, 0))));
  Reply r;
  EXPECT_FALSE(ReadReply(refused, &r));
  a.close();  // frees a place once the server has let go of the connection
  EXPECT_TRUE(Eventually([&] {
    tcp::socket c = Connect();
    boost::system::error_code ec;
    asio::write(c, asio::buffer(FrameRecord(CallRecord(4, kTestProgram, 1, 1, 0))), ec);
    Reply again;
    return !ec && ReadReply(c, &again) && again.header.xid == 4u;
  }));
}

}  // namespace
}  // namespace bucketfs::rpc
