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
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <random>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/log.h"
#include "base/metrics.h"
#include "rpc/call_memory.h"
#include "rpc/message.h"
#include "rpc/record_marking.h"
#include "rpc/reverse_call.h"

namespace bucketfs::rpc {
namespace {

using asio::ip::tcp;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kReadChunk = 64 * 1024;
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);
constexpr auto kRefusalLogInterval = std::chrono::seconds(10);

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

// The outcome of a reverse call as computed on the connection's strand (default-constructible,
// as co_spawn requires of a result).
struct ReverseOutcome {
  Status status;
  Bytes results;  // when status is OK
};

// Maps the REPLY `record` to a reverse call's `header` onto its outcome (ReverseCaller::Call).
ReverseOutcome ReverseCallOutcome(const ReverseCallHeader& header, ByteView record) {
  const std::string what = "reverse call to " + DescribeCall(header);
  Result<Bytes> results = ReplyResults(record, what);
  if (!results.ok()) return {results.status(), {}};
  return {Status::Ok(), std::move(*results)};
}

// `now + timeout`, saturating (a negative timeout is none).
asio::steady_timer::time_point DeadlineAfter(std::chrono::milliseconds timeout) {
  using TimePoint = asio::steady_timer::time_point;
  const TimePoint now = asio::steady_timer::clock_type::now();
  const auto headroom =
      std::chrono::duration_cast<std::chrono::milliseconds>(TimePoint::max() - now);
  if (timeout >= headroom) return TimePoint::max();
  return now + std::max(timeout, std::chrono::milliseconds(0));
}

// A connection's first reverse-call xid: scrambles the connection id with a per-process random
// seed and the clock, so xids differ across connections and restarts. Replies are matched only
// against this connection's own pending calls, so a clash with a client xid is harmless.
uint32_t InitialXid(uint64_t connection_id) {
  static const uint64_t seed = (uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
  uint64_t x = seed ^ connection_id ^
               static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  x += 0x9e3779b97f4a7c15ull;  // splitmix64's finalizer
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return static_cast<uint32_t>(x ^ (x >> 31));
}

Counter& RefusedConnections() {
  static Counter& refused = DefaultMetrics().GetCounter(
      "bucketfs_rpc_connections_refused_total",
      "RPC connections closed at once because max_connections were open.");
  return refused;
}

}  // namespace

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

// One TCP connection. All its coroutines run on the connection's strand (the socket's
// executor), so its state needs no lock; other threads reach it only through Close(),
// SendRecord() and ReverseCall(), which post to (or spawn on) the strand.
//
// Reverse calls (the NFSv4.1 backchannel): ReverseCall runs on the strand, registers a
// PendingCall under a fresh xid, queues the CALL like a reply (no in-flight slot) and sleeps on
// the PendingCall's timer until the deadline. The reader hands a REPLY record to the pending call
// of its xid (without waiting for an in-flight slot) and cancels that timer; closing the
// connection cancels every pending timer. Replies to unknown xids are dropped.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // `open` counts the connections that exist (one more while this one does).
  Connection(tcp::socket socket, uint64_t id, const ServerOptions& options,
             std::shared_ptr<const ProgramTable> programs,
             std::shared_ptr<std::atomic<std::size_t>> open)
      : socket_(std::move(socket)),
        id_(id),
        max_record_size_(options.max_record_size),
        max_inflight_(std::max<std::size_t>(options.max_inflight_per_connection, 1)),
        programs_(std::move(programs)),
        request_budget_(options.request_budget),
        reply_budget_(options.reply_budget),
        open_(std::move(open)),
        peer_(PeerName(socket_)),
        wake_reader_(socket_.get_executor()),
        wake_writer_(socket_.get_executor()),
        next_xid_(InitialXid(id)) {
    open_->fetch_add(1);
  }
  ~Connection() { open_->fetch_sub(1); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  uint64_t id() const { return id_; }
  // The connection's strand.
  asio::any_io_executor executor() { return socket_.get_executor(); }

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

  // Server::Drain: reads no more calls, closes once the calls in flight are answered; from any
  // thread. finished() says when it is closed.
  void StopReading() {
    auto stop = [self = shared_from_this()] {
      if (self->closed_) return;
      self->draining_ = true;
      boost::system::error_code ec;
      // The pending read completes (end of file); writes go on.
      self->socket_.shutdown(tcp::socket::shutdown_receive, ec);
      self->wake_reader_.cancel();
      self->MaybeCloseDrained();
    };
    asio::post(socket_.get_executor(), std::move(stop));
  }
  bool finished() const { return finished_.load(); }

  // Queues one complete record (unframed) for sending server→client, e.g. a backchannel CALL;
  // from any thread. Dropped if the connection is closed.
  void SendRecord(Bytes record) {
    auto send = [self = shared_from_this(), record = std::move(record)]() mutable {
      self->Enqueue(FrameRecord(record), /*holds_slot=*/false);
    };
    asio::post(socket_.get_executor(), std::move(send));
  }

  // Sends a CALL to the client and awaits its REPLY (ReverseCaller::Call). Must run on the
  // connection's strand: co_spawn it on executor().
  static Awaitable<ReverseOutcome> ReverseCall(std::shared_ptr<Connection> self,
                                               ReverseCallHeader header, Bytes args,
                                               std::chrono::milliseconds timeout) {
    if (self->closed_) co_return ReverseOutcome{UnavailableError("connection closed"), {}};
    CallContext ctx;
    ctx.xid = self->NewXid();
    Bytes call = EncodeCallRecord(ctx.xid, header, args);
    args = Bytes{};

    auto pending = std::make_shared<PendingCall>(self->socket_.get_executor());
    pending->wake.expires_at(DeadlineAfter(timeout));
    self->pending_.emplace(ctx.xid, pending);
    self->Enqueue(FrameRecord(call), /*holds_slot=*/false);
    call = Bytes{};
    // No suspension since registering, so no reply or close can have been missed.
    while (!pending->reply && !self->closed_) {
      auto [ec] = co_await pending->wake.async_wait(kNoThrow);
      if (!ec) break;  // the deadline passed
    }
    self->pending_.erase(ctx.xid);

    if (pending->reply) co_return ReverseCallOutcome(header, *pending->reply);
    if (self->closed_) co_return ReverseOutcome{UnavailableError("connection closed"), {}};
    co_return ReverseOutcome{
        Status(ErrorCode::kTimeout, "no reply to reverse call (xid " + std::to_string(ctx.xid) +
                                        ") on connection " + std::to_string(self->id_) +
                                        " within " + std::to_string(timeout.count()) + " ms"),
        {}};
  }

 private:
  struct Outgoing {
    Bytes bytes;               // framed
    bool holds_slot;           // a reply: frees an in-flight slot once written or dropped
    ByteBudget::Grant memory;  // reply budget the call charged, returned once written or dropped
  };

  // A reverse call awaiting its reply; only touched on the strand.
  struct PendingCall {
    explicit PendingCall(const asio::any_io_executor& ex) : wake(ex) {}
    asio::steady_timer wake;     // expires at the deadline; cancelled by a reply or the close
    std::optional<Bytes> reply;  // the whole REPLY record
  };

  void CloseOnStrand() {
    if (closed_) return;
    closed_ = true;
    finished_.store(true);
    boost::system::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    wake_reader_.cancel();
    wake_writer_.cancel();
    for (auto& [xid, pending] : pending_) pending->wake.cancel();
  }

  uint32_t NewXid() {
    uint32_t xid = 0;
    do {
      xid = next_xid_++;
    } while (pending_.contains(xid));
    return xid;
  }

  // Hands a REPLY record to the reverse call waiting for it.
  void AcceptReply(uint32_t xid, Bytes record) {
    auto it = pending_.find(xid);
    if (it == pending_.end() || it->second->reply) {
      BFS_LOG_DEBUG("rpc: connection {}: ignoring a reply to no pending call (xid {})", id_, xid);
      return;
    }
    it->second->reply = std::move(record);
    it->second->wake.cancel();
  }

  void ReleaseSlot() {
    --inflight_;
    wake_reader_.cancel();
    MaybeNotifyClosed();
    MaybeCloseDrained();
  }

  // Draining: closes once the reader stopped and every call's reply is written.
  void MaybeCloseDrained() {
    if (draining_ && reader_done_ && inflight_ == 0 && queue_.empty()) CloseOnStrand();
  }

  // Programs learn about the close once the reader stopped and no call is left in flight, so no
  // call of this connection runs after ConnectionClosed.
  void MaybeNotifyClosed() {
    if (!reader_done_ || inflight_ > 0 || notified_) return;
    notified_ = true;
    programs_->ConnectionClosed(id_);
    BFS_LOG_DEBUG("rpc: connection {} ({}) closed", id_, peer_);
  }

  void Enqueue(Bytes bytes, bool holds_slot, ByteBudget::Grant memory = {}) {
    if (closed_) {
      if (holds_slot) ReleaseSlot();
      return;  // `memory` is returned with the bytes
    }
    queue_.push_back({std::move(bytes), holds_slot, std::move(memory)});
    wake_writer_.cancel();
  }

  Awaitable<void> WaitForSlot() {
    while (inflight_ >= max_inflight_ && !closed_) {
      wake_reader_.expires_at(asio::steady_timer::time_point::max());
      co_await wake_reader_.async_wait(kNoThrow);
    }
  }

  // Reads and dispatches records until EOF, an error, or a framing violation. With a request
  // budget, the record being assembled is charged as soon as its first fragment header is in,
  // before its body is read (the reader waits there, reading nothing more, while the budget is
  // exhausted), and the charge goes with the record to its call.
  Awaitable<Status> ReadRecords() {
    RecordDecoder decoder(max_record_size_);
    Bytes chunk(kReadChunk);
    std::vector<Bytes> records;
    ByteBudget::Grant assembling;  // the charge for the record the decoder is assembling
    for (;;) {
      auto [ec, n] = co_await socket_.async_read_some(asio::buffer(chunk), kNoThrow);
      if (ec == asio::error::eof) co_return Status::Ok();
      if (ec) co_return IoError(ec.message());
      ByteView data(chunk.data(), n);
      while (!data.empty()) {
        records.clear();
        BFS_CO_ASSIGN_OR_RETURN(const std::size_t used, decoder.FeedUntilFragment(data, &records));
        data = data.subspan(used);
        // At most one record completes per step: the one `assembling` was charged for (none for
        // an empty record).
        for (Bytes& record : records) {
          if (closed_) co_return Status::Ok();
          ByteBudget::Grant charge = std::move(assembling);
          charge.ShrinkTo(record.size());
          BFS_CO_RETURN_IF_ERROR(co_await Dispatch(std::move(record), std::move(charge)));
        }
        if (!request_budget_ || !decoder.fragment_started()) continue;
        if (assembling.bytes() == 0) {
          assembling = co_await request_budget_->Acquire(decoder.record_bound());
          if (closed_) co_return Status::Ok();
        }
        decoder.ReserveFragment();  // charged: allocate it once rather than grow it
      }
    }
  }

  static Awaitable<void> ReadLoop(std::shared_ptr<Connection> self) {
    BFS_LOG_DEBUG("rpc: connection {} from {}", self->id_, self->peer_);
    Status why = co_await self->ReadRecords();
    if (!why.ok()) BFS_LOG_DEBUG("rpc: closing connection {}: {}", self->id_, why.ToString());
    // Draining: the calls in flight still get their replies (MaybeCloseDrained closes).
    if (!self->draining_) self->CloseOnStrand();
    self->reader_done_ = true;
    self->MaybeNotifyClosed();
    self->MaybeCloseDrained();
  }

  // Decodes a record's header: a REPLY goes to its reverse call at once; a call waits for an
  // in-flight slot and is spawned. An error closes the connection. `charge`: the request budget
  // charged for the record, held by the call until its reply is built.
  Awaitable<Status> Dispatch(Bytes record, ByteBudget::Grant charge) {
    CallContext ctx;
    ByteView args;
    const CallDecode decoded = DecodeCall(record, &ctx, &args);
    if (decoded == CallDecode::kDrop) co_return ProtocolError("a record that is not an RPC call");
    if (decoded == CallDecode::kReply) {  // needs no slot: calls in flight may be waiting for it
      AcceptReply(ctx.xid, std::move(record));
      co_return Status::Ok();
    }
    ctx.connection_id = id_;
    ctx.peer = peer_;
    const std::size_t args_offset = decoded == CallDecode::kOk ? record.size() - args.size() : 0;
    co_await WaitForSlot();
    if (closed_) co_return Status::Ok();
    ++inflight_;
    asio::co_spawn(socket_.get_executor(),
                   ServeCall(shared_from_this(), std::move(record), std::move(charge), args_offset,
                             std::move(ctx), decoded),
                   LogExceptions{});
    co_return Status::Ok();
  }

  // `record` owns the bytes the arguments are read from (from `args_offset` to the end);
  // `charge` is its share of the request budget.
  static Awaitable<void> ServeCall(std::shared_ptr<Connection> self, Bytes record,
                                   ByteBudget::Grant charge, std::size_t args_offset,
                                   CallContext ctx, CallDecode decoded) {
    xdr::Encoder out;
    const std::size_t mark = out.ReserveU32();
    const ByteView args = ByteView(record).subspan(args_offset);
    CallMemory memory(self->reply_budget_.get());
    ctx.memory = &memory;
    co_await BuildReply(*self->programs_, ctx, args, decoded, out);
    ctx.memory = nullptr;
    record = Bytes{};
    charge.Release();
    if (out.size() - kFragmentHeaderSize > kMaxFragmentLength) {
      out.Truncate(kFragmentHeaderSize);
      EncodeAcceptedReply(out, ctx.xid, AcceptStat::kSystemErr);
    }
    out.PatchU32(mark, FragmentHeaderValue(true, out.size() - kFragmentHeaderSize));
    self->Enqueue(out.Release(), /*holds_slot=*/true, memory.TakeHeld());
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
      item.bytes = Bytes{};
      item.memory.Release();  // the bytes are gone: other calls may allocate theirs
      if (item.holds_slot) self->ReleaseSlot();
      if (ec) self->CloseOnStrand();
      self->MaybeCloseDrained();
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
  const std::shared_ptr<ByteBudget> request_budget_;  // null: unbounded
  const std::shared_ptr<ByteBudget> reply_budget_;    // null: unbounded
  const std::shared_ptr<std::atomic<std::size_t>> open_;
  const std::string peer_;
  asio::steady_timer wake_reader_;
  asio::steady_timer wake_writer_;
  std::deque<Outgoing> queue_;
  std::unordered_map<uint32_t, std::shared_ptr<PendingCall>> pending_;  // by xid
  uint32_t next_xid_;
  std::size_t inflight_ = 0;  // calls read but whose reply is not yet written or dropped
  bool closed_ = false;
  bool draining_ = false;  // Server::Drain: no more reads, close once the replies are out
  std::atomic<bool> finished_{false};  // closed_, for other threads
  bool reader_done_ = false;
  bool notified_ = false;
};

// The ReverseCaller handed to programs. It holds the server only weakly: programs are owned by
// the server, so a strong reference would be a cycle.
class ServerReverseCaller final : public ReverseCaller {
 public:
  explicit ServerReverseCaller(std::weak_ptr<Server::Impl> server) : server_(std::move(server)) {}
  Awaitable<Result<Bytes>> Call(uint64_t connection_id, ReverseCallHeader header, Bytes args,
                                std::chrono::milliseconds timeout) override;

 private:
  const std::weak_ptr<Server::Impl> server_;
};

// State shared by the Server and its accept loop; outlives the Server while coroutines run.
class Server::Impl : public std::enable_shared_from_this<Server::Impl> {
 public:
  Impl(asio::any_io_executor executor, ServerOptions options)
      : executor_(std::move(executor)),
        options_(options),
        strand_(asio::make_strand(executor_)),
        acceptor_(strand_),
        programs_(std::make_shared<ProgramTable>()) {
    RefusedConnections();  // on the metrics endpoint from the start, at 0
  }

  void AddProgram(std::shared_ptr<Program> p) {
    if (!reverse_caller_) reverse_caller_ = std::make_shared<ServerReverseCaller>(weak_from_this());
    p->SetReverseCaller(reverse_caller_);
    programs_->Add(std::move(p));
  }
  Status Listen(const std::string& host, uint16_t port);
  uint16_t port() const { return port_; }
  void Start() { asio::co_spawn(strand_, AcceptLoop(shared_from_this()), LogExceptions{}); }
  void Stop();
  static Awaitable<void> Drain(std::shared_ptr<Impl> self, std::chrono::milliseconds timeout);
  // The registered connection `id`, unless it is gone or the server stopped. Thread-safe.
  std::shared_ptr<Connection> FindConnection(uint64_t id);

 private:
  static Awaitable<void> AcceptLoop(std::shared_ptr<Impl> self);
  // Closes a connection accepted past max_connections and says so (rate-limited); on the strand.
  void Refuse(tcp::socket socket);
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
  std::shared_ptr<ReverseCaller> reverse_caller_;  // made by the first AddProgram
  uint16_t port_ = 0;
  std::atomic<uint64_t> next_connection_id_{1};
  // Connections that exist (each holds a count until destroyed).
  const std::shared_ptr<std::atomic<std::size_t>> open_connections_ =
      std::make_shared<std::atomic<std::size_t>>(0);

  // Refusals (on the strand): how many since the last warning, and when that was.
  uint64_t refused_unlogged_ = 0;
  std::optional<std::chrono::steady_clock::time_point> last_refusal_log_;

  std::mutex mu_;  // guards connections_ and stopped_
  std::unordered_map<uint64_t, std::weak_ptr<Connection>> connections_;  // by id
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
  std::erase_if(connections_, [](const auto& entry) { return entry.second.expired(); });
  connections_.emplace(conn->id(), conn);
  return true;
}

std::shared_ptr<Connection> Server::Impl::FindConnection(uint64_t id) {
  std::lock_guard lock(mu_);
  auto it = connections_.find(id);
  return it == connections_.end() ? nullptr : it->second.lock();
}

Awaitable<Result<Bytes>> ServerReverseCaller::Call(uint64_t connection_id, ReverseCallHeader header,
                                                   Bytes args, std::chrono::milliseconds timeout) {
  std::shared_ptr<Connection> conn;
  if (auto server = server_.lock()) conn = server->FindConnection(connection_id);
  if (!conn) co_return UnavailableError("no open connection " + std::to_string(connection_id));
  // The pending-call state lives on the connection's strand; co_spawn runs the call there and
  // resumes this coroutine on its own executor.
  const asio::any_io_executor strand = conn->executor();
  Awaitable<ReverseOutcome> on_strand =
      Connection::ReverseCall(std::move(conn), std::move(header), std::move(args), timeout);
  ReverseOutcome outcome =
      co_await asio::co_spawn(strand, std::move(on_strand), asio::use_awaitable);
  if (!outcome.status.ok()) co_return std::move(outcome.status);
  co_return std::move(outcome.results);
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
    if (self->open_connections_->load() >=
        std::max<std::size_t>(self->options_.max_connections, 1)) {
      self->Refuse(std::move(socket));
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    auto conn =
        std::make_shared<Connection>(std::move(socket), self->next_connection_id_++, self->options_,
                                     self->programs_, self->open_connections_);
    if (!self->Register(conn)) break;
    conn->Start();
  }
  BFS_LOG_DEBUG("rpc: accept loop on port {} stopped", self->port_);
}

void Server::Impl::Refuse(tcp::socket socket) {
  RefusedConnections().Inc();
  ++refused_unlogged_;
  const auto now = std::chrono::steady_clock::now();
  if (!last_refusal_log_ || now - *last_refusal_log_ >= kRefusalLogInterval) {
    BFS_LOG_WARN(
        "rpc: refused a connection from {}: {} connections are open, the limit "
        "(--max-connections) is {}{}",
        PeerName(socket), open_connections_->load(), options_.max_connections,
        refused_unlogged_ > 1
            ? fmt::format(" ({} refused since the last warning)", refused_unlogged_)
            : std::string());
    refused_unlogged_ = 0;
    last_refusal_log_ = now;
  }
  boost::system::error_code ec;
  socket.close(ec);
}

void Server::Impl::Stop() {
  std::unordered_map<uint64_t, std::weak_ptr<Connection>> conns;
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
  for (auto& [id, w] : conns) {
    if (auto c = w.lock()) c->Close();
  }
}

Awaitable<void> Server::Impl::Drain(std::shared_ptr<Impl> self, std::chrono::milliseconds timeout) {
  std::vector<std::shared_ptr<Connection>> conns;
  {
    std::lock_guard lock(self->mu_);
    if (self->stopped_) co_return;
    self->stopped_ = true;  // no more connections are registered
    for (auto& [id, w] : self->connections_) {
      if (auto c = w.lock()) conns.push_back(std::move(c));
    }
  }
  auto close_acceptor = [self] {
    boost::system::error_code ec;
    self->acceptor_.close(ec);
  };
  asio::post(self->strand_, std::move(close_acceptor));
  for (auto& c : conns) c->StopReading();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  asio::steady_timer poll(self->executor_);
  for (;;) {
    std::erase_if(conns, [](const auto& c) { return c->finished(); });
    if (conns.empty()) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      BFS_LOG_WARN("rpc: {} connection(s) still had calls in flight after {} ms; closing them",
                   conns.size(), timeout.count());
      for (auto& c : conns) c->Close();
      break;
    }
    poll.expires_after(std::chrono::milliseconds(20));
    co_await poll.async_wait(kNoThrow);
  }
  std::unordered_map<uint64_t, std::weak_ptr<Connection>> rest;
  {
    std::lock_guard lock(self->mu_);
    rest.swap(self->connections_);
  }
  for (auto& [id, w] : rest) {
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
Awaitable<void> Server::Drain(std::chrono::milliseconds timeout) {
  return Impl::Drain(impl_, timeout);
}

}  // namespace bucketfs::rpc
