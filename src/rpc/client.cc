#include "rpc/client.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <deque>
#include <optional>
#include <random>
#include <vector>

#include "rpc/message.h"
#include "rpc/record_marking.h"

namespace bucketfs::rpc {
namespace {

using asio::ip::tcp;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kReadChunk = 16 * 1024;

// A call's result as computed on the strand (default-constructible, as co_spawn requires).
struct CallOutcome {
  Status status;
  Bytes results;  // when status is OK
};

uint32_t RandomXid() {
  std::random_device rd;
  return (uint32_t{rd()} << 16) ^ uint32_t { rd() };
}

}  // namespace

// Everything a call touches, on one strand: the socket, the records read past the last reply,
// and the deadline the watchdog enforces.
struct RpcClient::Shared {
  Shared(const asio::any_io_executor& ex, std::size_t max_reply_size)
      : strand(asio::make_strand(ex)),
        socket(strand),
        deadline(strand),
        max_reply(max_reply_size) {}

  void Close() {
    boost::system::error_code ec;
    socket.shutdown(tcp::socket::shutdown_both, ec);
    socket.close(ec);
    decoder.reset();
    unread.clear();
  }

  asio::strand<asio::any_io_executor> strand;
  tcp::socket socket;
  asio::steady_timer deadline;
  std::optional<RecordDecoder> decoder;  // reset when the connection closes
  std::size_t max_reply;
  std::deque<Bytes> unread;  // complete records read after the last reply
  uint64_t call = 0;         // the number of the call in progress (or of the last one)
  bool in_call = false;
  bool timed_out = false;
};

namespace {

// Closes the socket when call `call`'s deadline passes while it is still in progress; an older
// call's watchdog (its wait cancelled by the next deadline) does nothing.
Awaitable<void> Watchdog(std::shared_ptr<RpcClient::Shared> s, uint64_t call) {
  auto [ec] = co_await s->deadline.async_wait(kNoThrow);
  if (ec || !s->in_call || s->call != call) co_return;
  s->timed_out = true;
  s->Close();
}

// The error for a failed socket operation: a timeout when the watchdog closed it.
Status SocketError(const RpcClient::Shared& s, const std::string& peer, std::string_view doing,
                   const boost::system::error_code& ec, std::chrono::milliseconds timeout) {
  if (s.timed_out) {
    return Status(ErrorCode::kTimeout,
                  "no reply from " + peer + " within " + std::to_string(timeout.count()) + " ms");
  }
  if (ec == asio::error::eof) {
    return UnavailableError(peer + " closed the connection before the reply");
  }
  return UnavailableError(std::string(doing) + " " + peer + ": " + ec.message());
}

// Whether `record` is the REPLY to `xid`.
bool IsReplyTo(ByteView record, uint32_t xid) {
  xdr::Decoder d(record);
  uint32_t rx = 0, type = 0;
  return d.ReadU32(&rx) && d.ReadU32(&type) && rx == xid &&
         type == static_cast<uint32_t>(MsgType::kReply);
}

Awaitable<CallOutcome> RunCall(std::shared_ptr<RpcClient::Shared> s, tcp::endpoint endpoint,
                               std::string peer, std::string what, uint32_t xid, Bytes framed,
                               std::chrono::milliseconds timeout) {
  s->in_call = true;
  s->timed_out = false;
  const uint64_t call = ++s->call;
  s->deadline.expires_after(timeout);  // cancels an older watchdog's wait
  asio::co_spawn(s->strand, Watchdog(s, call), asio::detached);
  CallOutcome out;
  auto finish = [&](Status st) {
    if (!st.ok() && st.code() != ErrorCode::kProtocol) s->Close();
    s->in_call = false;
    s->deadline.cancel();
    out.status = std::move(st);
  };

  if (!s->socket.is_open()) {
    s->Close();
    s->decoder.emplace(s->max_reply);
    auto [ec] = co_await s->socket.async_connect(endpoint, kNoThrow);
    if (ec) {
      finish(SocketError(*s, peer, "cannot connect to", ec, timeout));
      co_return out;
    }
    s->socket.set_option(tcp::no_delay(true), ec);
  }
  auto [wec, written] = co_await asio::async_write(s->socket, asio::buffer(framed), kNoThrow);
  if (wec) {
    finish(SocketError(*s, peer, "cannot send to", wec, timeout));
    co_return out;
  }
  Bytes chunk(kReadChunk);
  std::vector<Bytes> records;
  for (;;) {
    while (!s->unread.empty()) {
      Bytes record = std::move(s->unread.front());
      s->unread.pop_front();
      if (!IsReplyTo(record, xid)) continue;  // a stale reply or a call from the peer
      Result<Bytes> results = ReplyResults(record, what);
      if (results.ok()) out.results = std::move(*results);
      finish(results.status());
      co_return out;
    }
    auto [ec, n] = co_await s->socket.async_read_some(asio::buffer(chunk), kNoThrow);
    if (ec) {
      finish(SocketError(*s, peer, "cannot read from", ec, timeout));
      co_return out;
    }
    records.clear();
    if (Status st = s->decoder->Feed(ByteView(chunk.data(), n), &records); !st.ok()) {
      s->Close();
      finish(ProtocolError(what + ": " + st.message()));
      co_return out;
    }
    for (Bytes& r : records) s->unread.push_back(std::move(r));
  }
}

}  // namespace

RpcClient::RpcClient(asio::any_io_executor executor, std::string host, uint16_t port,
                     RpcClientOptions options)
    : executor_(std::move(executor)),
      host_(std::move(host)),
      port_(port),
      options_(options),
      shared_(std::make_shared<Shared>(executor_, options_.max_reply_size)),
      next_xid_(RandomXid()) {}

RpcClient::~RpcClient() {
  // The socket belongs to the strand: close it there (no call is in progress, see the header).
  asio::post(shared_->strand, [s = shared_] { s->Close(); });
}

std::string RpcClient::peer() const {
  return (host_.find(':') != std::string::npos ? "[" + host_ + "]" : host_) + ":" +
         std::to_string(port_);
}

Awaitable<Result<Bytes>> RpcClient::Call(ReverseCallHeader header, ByteView args,
                                         std::chrono::milliseconds timeout) {
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(host_, ec);
  if (ec) co_return InvalidArgumentError("'" + host_ + "' is not an IP address");
  const uint32_t xid = next_xid_++;
  const Bytes call = EncodeCallRecord(xid, header, args);
  std::string what = "call to " + peer() + " " + DescribeCall(header);
  Awaitable<CallOutcome> run = RunCall(shared_, tcp::endpoint(address, port_), peer(),
                                       std::move(what), xid, FrameRecord(call), timeout);
  CallOutcome outcome =
      co_await asio::co_spawn(shared_->strand, std::move(run), asio::use_awaitable);
  if (!outcome.status.ok()) co_return std::move(outcome.status);
  co_return std::move(outcome.results);
}

}  // namespace bucketfs::rpc
