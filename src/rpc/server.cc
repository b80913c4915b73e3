#include "rpc/server.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <deque>

#include "base/log.h"
#include "rpc/message.h"
#include "rpc/record_marking.h"

namespace bucketfs::rpc {

using asio::ip::tcp;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

// One TCP connection. Everything below runs on the connection's strand (the socket's executor),
// so the write queue and counters need no lock.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, uint64_t id, const ServerOptions& options,
             std::vector<std::shared_ptr<Program>> programs)
      : socket_(std::move(socket)),
        id_(id),
        options_(options),
        programs_(std::move(programs)),
        wake_reader_(socket_.get_executor()),
        wake_writer_(socket_.get_executor()) {
    boost::system::error_code ec;
    auto remote = socket_.remote_endpoint(ec);
    if (!ec) peer_ = remote.address().to_string() + ":" + std::to_string(remote.port());
  }

  void Start() {
    auto self = shared_from_this();
    asio::co_spawn(socket_.get_executor(), ReadLoop(self), asio::detached);
    asio::co_spawn(socket_.get_executor(), WriteLoop(self), asio::detached);
  }

  // Closes the socket from any thread.
  void Close() {
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->CloseOnStrand(); });
  }

 private:
  void CloseOnStrand() {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    wake_reader_.cancel();
    wake_writer_.cancel();
  }

  // Reads one record (all its fragments) into `record`. Returns false on EOF, error or a record
  // over the size bound.
  Awaitable<bool> ReadRecord(Bytes& record) {
    record.clear();
    for (;;) {
      uint8_t hdr[4];
      auto [ec, n] = co_await asio::async_read(socket_, asio::buffer(hdr), kNoThrow);
      if (ec) co_return false;
      FragmentHeader frag = ParseFragmentHeader(hdr);
      if (frag.length > options_.max_record_size - record.size()) {
        BFS_LOG_WARN("rpc: {} sent a record over {} bytes; closing", peer_,
                     options_.max_record_size);
        co_return false;
      }
      std::size_t at = record.size();
      record.resize(at + frag.length);
      auto [ec2, n2] = co_await asio::async_read(
          socket_, asio::buffer(record.data() + at, frag.length), kNoThrow);
      if (ec2) co_return false;
      if (frag.last) co_return true;
    }
  }

  static Awaitable<void> ReadLoop(std::shared_ptr<Connection> self) {
    BFS_LOG_DEBUG("rpc: connection {} from {}", self->id_, self->peer_);
    for (;;) {
      while (self->inflight_ >= self->options_.max_inflight_per_connection && !self->closed_) {
        self->wake_reader_.expires_at(asio::steady_timer::time_point::max());
        co_await self->wake_reader_.async_wait(kNoThrow);
      }
      auto record = std::make_shared<Bytes>();
      if (self->closed_ || !co_await self->ReadRecord(*record)) break;
      CallContext ctx;
      ByteView args;
      CallDecode decoded = DecodeCall(*record, &ctx, &args);
      if (decoded == CallDecode::kDrop) {
        BFS_LOG_DEBUG("rpc: {} sent a record that is not a call; closing", self->peer_);
        break;
      }
      ctx.connection_id = self->id_;
      ctx.peer = self->peer_;
      ++self->inflight_;
      asio::co_spawn(self->socket_.get_executor(),
                     ServeCall(self, std::move(record), std::move(ctx), args, decoded),
                     asio::detached);
    }
    self->CloseOnStrand();
    for (const auto& p : self->programs_) p->ConnectionClosed(self->id_);
    BFS_LOG_DEBUG("rpc: connection {} closed", self->id_);
  }

  // `record` owns the bytes `args` points into.
  static Awaitable<void> ServeCall(std::shared_ptr<Connection> self, std::shared_ptr<Bytes> record,
                                   CallContext ctx, ByteView args, CallDecode decoded) {
    xdr::Encoder out;
    out.WriteU32(0);  // record mark, patched below
    co_await self->Dispatch(ctx, args, decoded, out);
    out.PatchU32(0, LastFragmentMark(static_cast<uint32_t>(out.size() - 4)));
    record.reset();
    --self->inflight_;
    self->wake_reader_.cancel();
    self->Send(out.Release());
  }

  Awaitable<void> Dispatch(const CallContext& ctx, ByteView args, CallDecode decoded,
                           xdr::Encoder& out) {
    switch (decoded) {
      case CallDecode::kRpcMismatch:
        EncodeDeniedRpcMismatch(out, ctx.xid);
        co_return;
      case CallDecode::kBadCred:
        EncodeDeniedAuth(out, ctx.xid, AuthStat::kBadCred);
        co_return;
      case CallDecode::kTooWeak:
        EncodeDeniedAuth(out, ctx.xid, AuthStat::kTooWeak);
        co_return;
      case CallDecode::kOk:
      case CallDecode::kDrop:
        break;
    }
    const std::size_t stat_pos = BeginAcceptedReply(out, ctx.xid);
    const std::size_t body = out.size();
    AcceptStat stat = co_await CallProgram(ctx, args, out);
    if (stat != AcceptStat::kSuccess) {
      out.Truncate(body);
      if (stat == AcceptStat::kProgMismatch) {
        const Program* p = FindProgram(ctx.program);
        out.WriteU32(p ? p->min_version() : 0);
        out.WriteU32(p ? p->max_version() : 0);
      }
    }
    out.PatchU32(stat_pos, static_cast<uint32_t>(stat));
  }

  Program* FindProgram(uint32_t number) const {
    for (const auto& p : programs_) {
      if (p->program_number() == number) return p.get();
    }
    return nullptr;
  }

  Awaitable<AcceptStat> CallProgram(const CallContext& ctx, ByteView args, xdr::Encoder& out) {
    Program* p = FindProgram(ctx.program);
    if (p == nullptr) co_return AcceptStat::kProgUnavail;
    if (ctx.version < p->min_version() || ctx.version > p->max_version()) {
      co_return AcceptStat::kProgMismatch;
    }
    if (ctx.procedure == 0) co_return AcceptStat::kSuccess;  // NULL (RFC 5531 §12.1 convention)
    co_return co_await p->Call(ctx, args, out);
  }

  void Send(Bytes reply) {
    if (closed_) return;
    queue_.push_back(std::move(reply));
    wake_writer_.cancel();
  }

  static Awaitable<void> WriteLoop(std::shared_ptr<Connection> self) {
    while (!self->closed_) {
      if (self->queue_.empty()) {
        self->wake_writer_.expires_at(asio::steady_timer::time_point::max());
        co_await self->wake_writer_.async_wait(kNoThrow);
        continue;
      }
      Bytes reply = std::move(self->queue_.front());
      self->queue_.pop_front();
      auto [ec, n] = co_await asio::async_write(self->socket_, asio::buffer(reply), kNoThrow);
      if (ec) {
        self->CloseOnStrand();
        break;
      }
    }
  }

  tcp::socket socket_;
  uint64_t id_;
  const ServerOptions options_;
  std::vector<std::shared_ptr<Program>> programs_;
  std::string peer_;
  asio::steady_timer wake_reader_;
  asio::steady_timer wake_writer_;
  std::deque<Bytes> queue_;
  std::size_t inflight_ = 0;
  bool closed_ = false;
};

Server::Server(asio::any_io_executor executor, ServerOptions options)
    : executor_(std::move(executor)), options_(options), acceptor_(executor_) {}

Server::~Server() {
  boost::system::error_code ec;
  acceptor_.close(ec);
}

void Server::AddProgram(std::shared_ptr<Program> program) {
  programs_.push_back(std::move(program));
}

Status Server::Listen(const std::string& host, uint16_t port) {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec) return InvalidArgumentError("'" + host + "' is not an IP address to listen on");
  tcp::endpoint endpoint(address, port);
  const std::string where = host + ":" + std::to_string(port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec == asio::error::address_in_use) {
    return Status(ErrorCode::kExists, where + " is already in use");
  }
  if (ec == asio::error::access_denied) {
    return Status(ErrorCode::kAccessDenied, "not allowed to listen on " + where);
  }
  if (ec) return IoError("cannot listen on " + where + ": " + ec.message());
  port_ = acceptor_.local_endpoint(ec).port();
  return Status::Ok();
}

uint16_t Server::port() const { return port_; }

void Server::Start() { asio::co_spawn(executor_, AcceptLoop(), asio::detached); }

Awaitable<void> Server::AcceptLoop() {
  for (;;) {
    tcp::socket socket(asio::make_strand(executor_));
    auto [ec] = co_await acceptor_.async_accept(socket, kNoThrow);
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
    if (ec) {
      BFS_LOG_WARN("rpc: accept failed: {}", ec.message());
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    auto conn =
        std::make_shared<Connection>(std::move(socket), next_connection_id_++, options_, programs_);
    {
      std::lock_guard lock(mu_);
      if (stopped_) co_return;
      std::erase_if(connections_, [](const auto& w) { return w.expired(); });
      connections_.push_back(conn);
    }
    conn->Start();
  }
}

void Server::Stop() {
  std::vector<std::weak_ptr<Connection>> conns;
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    conns.swap(connections_);
  }
  asio::post(executor_, [this] {
    boost::system::error_code ec;
    acceptor_.close(ec);
  });
  for (auto& w : conns) {
    if (auto c = w.lock()) c->Close();
  }
}

}  // namespace bucketfs::rpc
