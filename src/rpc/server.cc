#include "rpc/server.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <deque>
#include <exception>
#include <mutex>
#include <utility>
#include <vector>

#include "base/log.h"
#include "base/metrics.h"
#include "rpc/message.h"
#include "rpc/record_marking.h"

namespace bucketfs::rpc {
namespace {

using asio::ip::tcp;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kReadChunk = 64 * 1024;
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);

// co_spawn completion: a coroutine that throws is a bug; log it instead of letting the exception
// escape io_context::run().
struct LogExceptions {
  void operator()(std::exception_ptr e) const {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      BFS_LOG_ERROR("rpc: coroutine failed: {}", ex.what());
    } catch (...) {
      BFS_LOG_ERROR("rpc: coroutine failed with a non-standard exception");
    }
  }
};

// The registered programs; immutable once serving starts.
class ProgramTable {
 public:
  void Add(std::shared_ptr<Program> p) { programs_.push_back(std::move(p)); }
  Program* Find(uint32_t number) const {
    for (const auto& p : programs_) {
      if (p->program_number() == number) return p.get();
    }
    return nullptr;
  }
  void ConnectionClosed(uint64_t id) const {
    for (const auto& p : programs_) p->ConnectionClosed(id);
  }

 private:
  std::vector<std::shared_ptr<Program>> programs_;
};

std::string PeerName(const tcp::socket& socket) {
  boost::system::error_code ec;
  auto remote = socket.remote_endpoint(ec);
  if (ec) return "?";
  return remote.address().to_string() + ":" + std::to_string(remote.port());
}

bool IsValidAcceptStat(AcceptStat s) {
  return static_cast<uint32_t>(s) <= static_cast<uint32_t>(AcceptStat::kSystemErr);
}

// Serves one decoded call of a registered program: the accepted reply goes to `out`.
Awaitable<void> CallProgram(Program& program, const CallContext& ctx, ByteView args,
                            xdr::Encoder& out) {
  const std::size_t reply_start = out.size();
  const std::size_t stat_offset = BeginAcceptedReply(out, ctx.xid);
  AcceptStat stat = AcceptStat::kSystemErr;
  try {
    stat = co_await program.Call(ctx, args, out);
  } catch (const std::exception& e) {
    BFS_LOG_ERROR("rpc: program {} procedure {} threw: {}", ctx.program, ctx.procedure, e.what());
    stat = AcceptStat::kSystemErr;
  }
  if (!IsValidAcceptStat(stat)) stat = AcceptStat::kSystemErr;
  if (stat == AcceptStat::kProgMismatch) {
    out.Truncate(reply_start);
    EncodeProgMismatch(out, ctx.xid, program.min_version(), program.max_version());
    co_return;
  }
  FinishAcceptedReply(out, stat_offset, stat);
}

// Routes a well-formed call (RFC 5531 §9 accept_stat rules, NULL per §12.1 convention).
Awaitable<void> RouteCall(const ProgramTable& programs, const CallContext& ctx, ByteView args,
                          xdr::Encoder& out) {
  Program* p = programs.Find(ctx.program);
  if (p == nullptr) {
    EncodeAcceptedReply(out, ctx.xid, AcceptStat::kProgUnavail);
  } else if (ctx.version < p->min_version() || ctx.version > p->max_version()) {
    EncodeProgMismatch(out, ctx.xid, p->min_version(), p->max_version());
  } else if (ctx.procedure == 0) {
    EncodeAcceptedReply(out, ctx.xid, AcceptStat::kSuccess);
  } else {
    co_await CallProgram(*p, ctx, args, out);
  }
}

// Builds the whole reply to a call whose header decoded as `decoded`.
Awaitable<void> BuildReply(const ProgramTable& programs, const CallContext& ctx, ByteView args,
                           CallDecode decoded, xdr::Encoder& out) {
  switch (decoded) {
    case CallDecode::kOk:
      co_await RouteCall(programs, ctx, args, out);
      co_return;
    case CallDecode::kGarbage:
      EncodeAcceptedReply(out, ctx.xid, AcceptStat::kGarbageArgs);
      co_return;
    case CallDecode::kRpcMismatch:
      EncodeDeniedRpcMismatch(out, ctx.xid);
      co_return;
    case CallDecode::kBadCred:
      EncodeDeniedAuth(out, ctx.xid, AuthStat::kBadCred);
      co_return;
    case CallDecode::kBadVerf:
      EncodeDeniedAuth(out, ctx.xid, AuthStat::kBadVerf);
      co_return;
    case CallDecode::kTooWeak:
      EncodeDeniedAuth(out, ctx.xid, AuthStat::kTooWeak);
      co_return;
    case CallDecode::kDrop:
    case CallDecode::kReply:
      break;
  }
  EncodeAcceptedReply(out, ctx.xid, AcceptStat::kSystemErr);
}

}  // namespace

// One TCP connection. All its coroutines run on the connection's strand (the socket's
// executor), so its state needs no lock; other threads reach it only through Close() and
// SendRecord(), which post to the strand. Also the future home of the NFSv4.1 backchannel.
// Counts a connection in the metrics while it exists.
class ConnectionMetric {
 public:
  ConnectionMetric() {
    Open().Add(1);
    static Counter& accepted =
        DefaultMetrics().GetCounter("bucketfs_rpc_connections_total", "RPC connections accepted.");
    accepted.Inc();
  }
  ~ConnectionMetric() { Open().Add(-1); }
  ConnectionMetric(const ConnectionMetric&) = delete;
  ConnectionMetric& operator=(const ConnectionMetric&) = delete;

 private:
  static Gauge& Open() {
    static Gauge& open =
        DefaultMetrics().GetGauge("bucketfs_rpc_connections", "Open RPC connections.");
    return open;
  }
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, uint64_t id, const ServerOptions& options,
             std::shared_ptr<const ProgramTable> programs)
      : socket_(std::move(socket)),
        id_(id),
        max_record_size_(options.max_record_size),
        max_inflight_(std::max<std::size_t>(options.max_inflight_per_connection, 1)),
        programs_(std::move(programs)),
        peer_(PeerName(socket_)),
        wake_reader_(socket_.get_executor()),
        wake_writer_(socket_.get_executor()) {}

  uint64_t id() const { return id_; }

  void Start() {
    auto self = shared_from_this();
    asio::co_spawn(socket_.get_executor(), ReadLoop(self), LogExceptions{});
    asio::co_spawn(socket_.get_executor(), WriteLoop(self), LogExceptions{});
  }

  // Closes the socket; from any thread.
  void Close() {
    auto close = [self = shared_from_this()] { self->CloseOnStrand(); };
    asio::post(socket_.get_executor(), std::move(close));
  }

  // Queues one complete record (unframed) for sending server→client, e.g. a backchannel CALL;
  // from any thread. Dropped if the connection is closed.
  void SendRecord(Bytes record) {
    auto send = [self = shared_from_this(), record = std::move(record)]() mutable {
      self->Enqueue(FrameRecord(record), /*holds_slot=*/false);
    };
    asio::post(socket_.get_executor(), std::move(send));
  }

 private:
  struct Outgoing {
    Bytes bytes;      // framed
    bool holds_slot;  // a reply: frees an in-flight slot once written or dropped
  };

  void CloseOnStrand() {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    wake_reader_.cancel();
    wake_writer_.cancel();
  }

  void ReleaseSlot() {
    --inflight_;
    wake_reader_.cancel();
    MaybeNotifyClosed();
  }

  // Programs learn about the close once the reader stopped and no call is left in flight, so no
  // call of this connection runs after ConnectionClosed.
  void MaybeNotifyClosed() {
    if (!reader_done_ || inflight_ > 0 || notified_) return;
    notified_ = true;
    programs_->ConnectionClosed(id_);
    BFS_LOG_DEBUG("rpc: connection {} ({}) closed", id_, peer_);
  }

  void Enqueue(Bytes bytes, bool holds_slot) {
    if (closed_) {
      if (holds_slot) ReleaseSlot();
      return;
    }
    queue_.push_back({std::move(bytes), holds_slot});
    wake_writer_.cancel();
  }

  Awaitable<void> WaitForSlot() {
    while (inflight_ >= max_inflight_ && !closed_) {
      wake_reader_.expires_at(asio::steady_timer::time_point::max());
      co_await wake_reader_.async_wait(kNoThrow);
    }
  }

  // Reads and dispatches records until EOF, an error, or a framing violation.
  Awaitable<Status> ReadRecords() {
    RecordDecoder decoder(max_record_size_);
    Bytes chunk(kReadChunk);
    std::vector<Bytes> records;
    for (;;) {
      auto [ec, n] = co_await socket_.async_read_some(asio::buffer(chunk), kNoThrow);
      if (ec == asio::error::eof) co_return Status::Ok();
      if (ec) co_return IoError(ec.message());
      records.clear();
      BFS_CO_RETURN_IF_ERROR(decoder.Feed(ByteView(chunk.data(), n), &records));
      for (Bytes& record : records) {
        co_await WaitForSlot();
        if (closed_) co_return Status::Ok();
        BFS_CO_RETURN_IF_ERROR(Dispatch(std::move(record)));
      }
    }
  }

  static Awaitable<void> ReadLoop(std::shared_ptr<Connection> self) {
    BFS_LOG_DEBUG("rpc: connection {} from {}", self->id_, self->peer_);
    Status why = co_await self->ReadRecords();
    if (!why.ok()) BFS_LOG_DEBUG("rpc: closing connection {}: {}", self->id_, why.ToString());
    self->CloseOnStrand();
    self->reader_done_ = true;
    self->MaybeNotifyClosed();
  }

  // Decodes a record's call header and spawns the call; an error closes the connection.
  Status Dispatch(Bytes record) {
    CallContext ctx;
    ByteView args;
    const CallDecode decoded = DecodeCall(record, &ctx, &args);
    if (decoded == CallDecode::kDrop) return ProtocolError("a record that is not an RPC call");
    if (decoded == CallDecode::kReply) {
      BFS_LOG_DEBUG("rpc: connection {}: ignoring a reply (xid {})", id_, ctx.xid);
      return Status::Ok();
    }
    ctx.connection_id = id_;
    ctx.peer = peer_;
    const std::size_t args_offset = decoded == CallDecode::kOk ? record.size() - args.size() : 0;
    ++inflight_;
    asio::co_spawn(
        socket_.get_executor(),
        ServeCall(shared_from_this(), std::move(record), args_offset, std::move(ctx), decoded),
        LogExceptions{});
    return Status::Ok();
  }

  // `record` owns the bytes the arguments are read from (from `args_offset` to the end).
  static Awaitable<void> ServeCall(std::shared_ptr<Connection> self, Bytes record,
                                   std::size_t args_offset, CallContext ctx, CallDecode decoded) {
    xdr::Encoder out;
    const std::size_t mark = out.ReserveU32();
    const ByteView args = ByteView(record).subspan(args_offset);
    co_await BuildReply(*self->programs_, ctx, args, decoded, out);
    record = Bytes{};
    if (out.size() - kFragmentHeaderSize > kMaxFragmentLength) {
      out.Truncate(kFragmentHeaderSize);
      EncodeAcceptedReply(out, ctx.xid, AcceptStat::kSystemErr);
    }
    out.PatchU32(mark, FragmentHeaderValue(true, out.size() - kFragmentHeaderSize));
    self->Enqueue(out.Release(), /*holds_slot=*/true);
  }

  static Awaitable<void> WriteLoop(std::shared_ptr<Connection> self) {
    while (!self->closed_) {
      if (self->queue_.empty()) {
        self->wake_writer_.expires_at(asio::steady_timer::time_point::max());
        co_await self->wake_writer_.async_wait(kNoThrow);
        continue;
      }
      Outgoing item = std::move(self->queue_.front());
      self->queue_.pop_front();
      auto [ec, n] = co_await asio::async_write(self->socket_, asio::buffer(item.bytes), kNoThrow);
      if (item.holds_slot) self->ReleaseSlot();
      if (ec) self->CloseOnStrand();
    }
    self->DropQueue();
  }

  void DropQueue() {
    std::deque<Outgoing> dropped;
    dropped.swap(queue_);
    for (const Outgoing& item : dropped) {
      if (item.holds_slot) ReleaseSlot();
    }
  }

  ConnectionMetric metric_;
  tcp::socket socket_;
  const uint64_t id_;
  const std::size_t max_record_size_;
  const std::size_t max_inflight_;
  const std::shared_ptr<const ProgramTable> programs_;
  const std::string peer_;
  asio::steady_timer wake_reader_;
  asio::steady_timer wake_writer_;
  std::deque<Outgoing> queue_;
  std::size_t inflight_ = 0;  // calls read but whose reply is not yet written or dropped
  bool closed_ = false;
  bool reader_done_ = false;
  bool notified_ = false;
};

// State shared by the Server and its accept loop; outlives the Server while coroutines run.
class Server::Impl : public std::enable_shared_from_this<Server::Impl> {
 public:
  Impl(asio::any_io_executor executor, ServerOptions options)
      : executor_(std::move(executor)),
        options_(options),
        strand_(asio::make_strand(executor_)),
        acceptor_(strand_),
        programs_(std::make_shared<ProgramTable>()) {}

  void AddProgram(std::shared_ptr<Program> p) { programs_->Add(std::move(p)); }
  Status Listen(const std::string& host, uint16_t port);
  uint16_t port() const { return port_; }
  void Start() { asio::co_spawn(strand_, AcceptLoop(shared_from_this()), LogExceptions{}); }
  void Stop();

 private:
  static Awaitable<void> AcceptLoop(std::shared_ptr<Impl> self);
  bool stopped() {
    std::lock_guard lock(mu_);
    return stopped_;
  }
  // Registers an accepted connection; false once stopped.
  bool Register(const std::shared_ptr<Connection>& conn);

  asio::any_io_executor executor_;
  const ServerOptions options_;
  asio::strand<asio::any_io_executor> strand_;  // the acceptor's
  tcp::acceptor acceptor_;
  std::shared_ptr<ProgramTable> programs_;
  uint16_t port_ = 0;
  std::atomic<uint64_t> next_connection_id_{1};

  std::mutex mu_;  // guards connections_ and stopped_
  std::vector<std::weak_ptr<Connection>> connections_;
  bool stopped_ = false;
};

Status Server::Impl::Listen(const std::string& host, uint16_t port) {
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) return InvalidArgumentError("'" + host + "' is not an IP address to listen on");
  const tcp::endpoint endpoint(address, port);
  const std::string where = host + ":" + std::to_string(port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  }
  if (ec == asio::error::address_in_use) {
    return Status(ErrorCode::kExists, where + " is already in use");
  }
  if (ec == asio::error::access_denied) {
    return Status(ErrorCode::kAccessDenied, "not allowed to listen on " + where);
  }
  if (ec == boost::system::errc::address_not_available) {
    return InvalidArgumentError("cannot listen on " + where + ": no such local address");
  }
  if (ec) return IoError("cannot listen on " + where + ": " + ec.message());
  port_ = acceptor_.local_endpoint(ec).port();
  BFS_LOG_DEBUG("rpc: listening on {}:{}", host, port_);
  return Status::Ok();
}

bool Server::Impl::Register(const std::shared_ptr<Connection>& conn) {
  std::lock_guard lock(mu_);
  if (stopped_) return false;
  std::erase_if(connections_, [](const std::weak_ptr<Connection>& w) { return w.expired(); });
  connections_.push_back(conn);
  return true;
}

Awaitable<void> Server::Impl::AcceptLoop(std::shared_ptr<Impl> self) {
  asio::steady_timer backoff(self->strand_);
  while (!self->stopped()) {
    auto [ec, socket] =
        co_await self->acceptor_.async_accept(asio::make_strand(self->executor_), kNoThrow);
    if (self->stopped() || !self->acceptor_.is_open()) break;
    if (ec) {
      // E.g. out of file descriptors: do not spin.
      BFS_LOG_WARN("rpc: accept failed: {}", ec.message());
      backoff.expires_after(kAcceptRetryDelay);
      co_await backoff.async_wait(kNoThrow);
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    auto conn = std::make_shared<Connection>(std::move(socket), self->next_connection_id_++,
                                             self->options_, self->programs_);
    if (!self->Register(conn)) break;
    conn->Start();
  }
  BFS_LOG_DEBUG("rpc: accept loop on port {} stopped", self->port_);
}

void Server::Impl::Stop() {
  std::vector<std::weak_ptr<Connection>> conns;
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    conns.swap(connections_);
  }
  auto close_acceptor = [self = shared_from_this()] {
    boost::system::error_code ec;
    self->acceptor_.close(ec);
  };
  asio::post(strand_, std::move(close_acceptor));
  for (auto& w : conns) {
    if (auto c = w.lock()) c->Close();
  }
}

Server::Server(asio::any_io_executor executor, ServerOptions options)
    : impl_(std::make_shared<Impl>(std::move(executor), options)) {}

Server::~Server() { impl_->Stop(); }

void Server::AddProgram(std::shared_ptr<Program> program) { impl_->AddProgram(std::move(program)); }
Status Server::Listen(const std::string& host, uint16_t port) { return impl_->Listen(host, port); }
uint16_t Server::port() const { return impl_->port(); }
void Server::Start() { impl_->Start(); }
void Server::Stop() { impl_->Stop(); }

}  // namespace bucketfs::rpc
