// The NFS payload bound end to end: many clients pipeline READs and WRITEs over real loopback
// TCP to an rpc::Server with request and reply budgets, serving an NfsServer over a MemoryFs
// whose Read and Write are slow and count the bytes they hold at once. Those counts, and the
// budgets' own peaks, must never pass the budgets; every reply must be right.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/byte_budget.h"
#include "nfs/nfs4_const.h"
#include "nfs/nfs_server.h"
#include "nfs/testing/compound_builder.h"
#include "nfs/testing/memory_fs.h"
#include "rpc/message.h"
#include "rpc/record_marking.h"
#include "rpc/server.h"
#include "vfs/exports.h"

namespace bucketfs::nfs {
namespace {

using asio::ip::tcp;
using testing::CompoundBuilder;
using testing::ReplyReader;

// The most bytes held at once by calls in progress, counted from entry to return.
class Gauge {
 public:
  void Add(std::size_t n) {
    const std::size_t now = live_.fetch_add(n) + n;
    std::size_t peak = peak_.load();
    while (now > peak && !peak_.compare_exchange_weak(peak, now)) {
    }
  }
  void Sub(std::size_t n) { live_.fetch_sub(n); }
  std::size_t peak() const { return peak_.load(); }

 private:
  std::atomic<std::size_t> live_{0};
  std::atomic<std::size_t> peak_{0};
};

// MemoryFs whose Read and Write take a few milliseconds (so calls pile up) and count the bytes
// they are handed or asked for while they run.
class SlowFs : public testing::MemoryFs {
 public:
  SlowFs() : MemoryFs(/*read_only=*/false) {}
  Awaitable<Result<vfs::ReadResult>> Read(vfs::InodeId ino, uint64_t offset,
                                          uint32_t count) override {
    reads_.Add(count);
    co_await Pause();
    auto r = co_await MemoryFs::Read(ino, offset, count);
    reads_.Sub(count);
    co_return r;
  }
  Awaitable<Result<vfs::WriteResult>> Write(vfs::InodeId ino, uint64_t offset, Bytes data,
                                            vfs::StableHow stable) override {
    const std::size_t n = data.size();
    writes_.Add(n);
    co_await Pause();
    auto r = co_await MemoryFs::Write(ino, offset, std::move(data), stable);
    writes_.Sub(n);
    co_return r;
  }
  const Gauge& reads() const { return reads_; }
  const Gauge& writes() const { return writes_; }

 private:
  static Awaitable<void> Pause() {
    asio::steady_timer t(co_await asio::this_coro::executor);
    t.expires_after(std::chrono::milliseconds(3));
    co_await t.async_wait(asio::use_awaitable);
  }
  Gauge reads_;
  Gauge writes_;
};

std::string Pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  return s;
}

// An NFSv4 COMPOUND call record (AUTH_SYS uid/gid 1000).
Bytes CallRecord(uint32_t xid, const Bytes& compound) {
  rpc::CallContext ctx;
  ctx.xid = xid;
  ctx.program = kNfsProgram;
  ctx.version = kNfsVersion4;
  ctx.procedure = 1;
  ctx.flavor = rpc::AuthFlavor::kSys;
  ctx.sys.machine_name = "client";
  ctx.sys.uid = 1000;
  ctx.sys.gid = 1000;
  xdr::Encoder e;
  rpc::EncodeCallHeader(e, ctx);
  e.WriteRaw(compound);
  return e.Release();
}

// One reply record (the server sends each as one fragment).
bool ReadReply(tcp::socket& s, rpc::ReplyHeader* header, Bytes* record) {
  uint8_t h[4];
  boost::system::error_code ec;
  asio::read(s, asio::buffer(h), ec);
  if (ec) return false;
  record->resize(rpc::ParseFragmentHeader(h).length);
  asio::read(s, asio::buffer(*record), ec);
  return !ec && rpc::DecodeReply(*record, header);
}

constexpr std::size_t kFileSize = 4 << 20;  // "big"

class PayloadBudgetTest : public ::testing::Test {
 protected:
  void Start(std::size_t request_bytes, std::size_t reply_bytes) {
    fs_->AddFile(1, "big", Pattern(kFileSize));
    fs_->AddFile(1, "out", "", 0666);
    (void)exports_.Add(vfs::Export{1, "data", fs_});
    nfs_ = std::make_shared<NfsServer>(io_.get_executor(), exports_, NfsOptions{});
    request_budget_ = std::make_shared<ByteBudget>(request_bytes);
    reply_budget_ = std::make_shared<ByteBudget>(reply_bytes);
    rpc::ServerOptions o;
    o.request_budget = request_budget_;
    o.reply_budget = reply_budget_;
    rpc_ = std::make_unique<rpc::Server>(io_.get_executor(), o);
    rpc_->AddProgram(nfs_->program());
    ASSERT_TRUE(rpc_->Listen("127.0.0.1", 0).ok());
    rpc_->Start();
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { io_.run(); });
  }
  void TearDown() override {
    if (rpc_) rpc_->Stop();
    rpc_.reset();
    work_.reset();
    io_.stop();
    for (auto& t : threads_) t.join();
  }
  tcp::socket Connect(asio::io_context& io) {
    tcp::socket s(io);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), rpc_->port()));
    s.set_option(tcp::no_delay(true));
    return s;
  }
  // Waits (up to 5 s) until both budgets are back to zero.
  bool BudgetsDrain() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (request_budget_->stats().in_use != 0 || reply_budget_->stats().in_use != 0) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
  }

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  std::shared_ptr<SlowFs> fs_ = std::make_shared<SlowFs>();
  vfs::ExportTable exports_;
  std::shared_ptr<NfsServer> nfs_;
  std::shared_ptr<ByteBudget> request_budget_;
  std::shared_ptr<ByteBudget> reply_budget_;
  std::unique_ptr<rpc::Server> rpc_;
  std::vector<std::thread> threads_;
};

// One client: pipelines `calls` READs of `count` bytes, then checks every reply.
void ReadClient(tcp::socket s, int client, int calls, uint32_t count, std::atomic<int>* good) {
  const std::string expected = Pattern(kFileSize);
  Bytes all;
  for (int i = 0; i < calls; ++i) {
    const uint64_t offset = (uint64_t(client) * 7 + uint64_t(i) * 3) % 13 * (256 << 10);
    CompoundBuilder b(0);
    b.PutRootFh().Lookup("data").Lookup("big").Read(StateId{}, offset, count);
    rpc::AppendFramedRecord(CallRecord(static_cast<uint32_t>(offset), b.Build()), &all);
  }
  asio::write(s, asio::buffer(all));
  for (int i = 0; i < calls; ++i) {
    rpc::ReplyHeader h;
    Bytes record;
    if (!ReadReply(s, &h, &record)) return;
    ReplyReader r(Bytes(h.results.begin(), h.results.end()));
    if (r.status() != Stat::kOk) continue;
    uint32_t op = 0;
    Stat st;
    for (int k = 0; k < 4; ++k) r.Next(&op, &st);  // PUTROOTFH, LOOKUP, LOOKUP: no body; READ
    bool eof = true;
    ByteView data;
    if (!r.d().ReadBool(&eof) || !r.d().ReadOpaque(count, &data) || data.size() != count) continue;
    if (AsString(data) == std::string_view(expected).substr(h.xid, count)) ++*good;
  }
}

TEST_F(PayloadBudgetTest, ConcurrentReadsNeverHoldMoreThanTheReplyBudget) {
  constexpr std::size_t kReplyBudget = 1 << 20;
  constexpr uint32_t kCount = 256 << 10;
  constexpr int kClients = 8, kCalls = 12;  // 96 READs of 256 KiB: 24 MiB against 1 MiB
  Start(1 << 20, kReplyBudget);
  std::atomic<int> good{0};
  std::vector<std::thread> clients;
  std::vector<std::unique_ptr<asio::io_context>> ios;
  for (int c = 0; c < kClients; ++c) {
    ios.push_back(std::make_unique<asio::io_context>());
    clients.emplace_back(ReadClient, Connect(*ios.back()), c, kCalls, kCount, &good);
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(good, kClients * kCalls);
  EXPECT_LE(fs_->reads().peak(), kReplyBudget) << "READ data allocated past the budget";
  EXPECT_GE(fs_->reads().peak(), kCount);
  const ByteBudget::Stats st = reply_budget_->stats();
  EXPECT_LE(st.peak, kReplyBudget);
  EXPECT_GT(st.waits, 0u) << "the load should have queued READs";
  EXPECT_TRUE(BudgetsDrain());
}

// One client: pipelines `calls` UNSTABLE WRITEs of `size` bytes into "out" (each at its own
// offset), then counts the replies that say all bytes were written.
void WriteClient(tcp::socket s, int client, int calls, std::size_t size, std::atomic<int>* good) {
  Bytes all;
  for (int i = 0; i < calls; ++i) {
    const uint64_t offset = (uint64_t(client) * calls + i) * size;
    CompoundBuilder b(0);
    b.PutRootFh().Lookup("data").Lookup("out").Write(StateId{}, offset, 0,
                                                     std::string(size, char('A' + client)));
    rpc::AppendFramedRecord(CallRecord(static_cast<uint32_t>(i), b.Build()), &all);
  }
  asio::write(s, asio::buffer(all));
  for (int i = 0; i < calls; ++i) {
    rpc::ReplyHeader h;
    Bytes record;
    if (!ReadReply(s, &h, &record)) return;
    ReplyReader r(Bytes(h.results.begin(), h.results.end()));
    uint32_t op = 0, count = 0;
    Stat st;
    for (int k = 0; k < 4; ++k) r.Next(&op, &st);
    if (r.status() == Stat::kOk && r.d().ReadU32(&count) && count == size) ++*good;
  }
}

TEST_F(PayloadBudgetTest, ConcurrentWritesStayWithinBothBudgets) {
  constexpr std::size_t kRequestBudget = 600 << 10, kReplyBudget = 400 << 10;
  constexpr std::size_t kSize = 100 << 10;
  constexpr int kClients = 6, kCalls = 8;  // 48 WRITEs of 100 KiB: 4.8 MiB in flight at once
  Start(kRequestBudget, kReplyBudget);
  std::atomic<int> good{0};
  std::vector<std::thread> clients;
  std::vector<std::unique_ptr<asio::io_context>> ios;
  for (int c = 0; c < kClients; ++c) {
    ios.push_back(std::make_unique<asio::io_context>());
    clients.emplace_back(WriteClient, Connect(*ios.back()), c, kCalls, kSize, &good);
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(good, kClients * kCalls);
  EXPECT_LE(fs_->writes().peak(), kReplyBudget) << "WRITE copies past the budget";
  EXPECT_LE(request_budget_->stats().peak, kRequestBudget);
  EXPECT_GT(request_budget_->stats().waits, 0u) << "readers should have waited for the budget";
  EXPECT_LE(reply_budget_->stats().peak, kReplyBudget);
  const std::optional<std::string> out = fs_->Contents(3);
  ASSERT_TRUE(out.has_value());
  ASSERT_EQ(out->size(), kClients * kCalls * kSize);
  for (int c = 0; c < kClients; ++c) {
    EXPECT_EQ(out->substr(c * kCalls * kSize, kCalls * kSize),
              std::string(kCalls * kSize, char('A' + c)));
  }
  EXPECT_TRUE(BudgetsDrain());
}

}  // namespace
}  // namespace bucketfs::nfs
