#include "server/metrics_server.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <mutex>
#include <utility>

#include "base/log.h"
#include "base/metrics.h"

namespace bucketfs::server {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxHeaderBytes = 8 * 1024;

// `target` is `path`, or `path` with a query string.
bool IsPath(std::string_view target, std::string_view path) {
  return target == path || (target.starts_with(path) && target[path.size()] == '?');
}

http::response<http::string_body> Answer(const http::request<http::empty_body>& req,
                                         const std::function<Status()>& health) {
  http::response<http::string_body> res;
  res.version(11);
  res.keep_alive(req.keep_alive());
  res.set(http::field::server, "bucketfs");
  const bool metrics = IsPath(req.target(), "/metrics");
  const bool healthz = IsPath(req.target(), "/healthz");
  if (!metrics && !healthz) {
    res.result(http::status::not_found);
    res.set(http::field::content_type, "text/plain");
    res.body() = "not found: try /metrics or /healthz\n";
  } else if (req.method() != http::verb::get && req.method() != http::verb::head) {
    res.result(http::status::method_not_allowed);
    res.set(http::field::allow, "GET, HEAD");
    res.set(http::field::content_type, "text/plain");
    res.body() = "method not allowed\n";
  } else if (healthz) {
    const Status s = health ? health() : Status::Ok();
    res.result(s.ok() ? http::status::ok : http::status::service_unavailable);
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.set(http::field::cache_control, "no-store");
    if (req.method() == http::verb::get) res.body() = (s.ok() ? "ok" : s.message()) + "\n";
  } else {
    res.result(http::status::ok);
    res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    if (req.method() == http::verb::get) res.body() = DefaultMetrics().Render();
  }
  res.prepare_payload();
  return res;
}

}  // namespace

struct MetricsServer::State : std::enable_shared_from_this<State> {
  State(asio::any_io_executor ex, std::string h, uint16_t p, std::chrono::milliseconds idle)
      : executor(std::move(ex)),
        host(std::move(h)),
        port(p),
        idle_timeout(idle),
        acceptor(asio::make_strand(executor)) {}

  asio::any_io_executor executor;
  std::string host;
  uint16_t port;
  std::chrono::milliseconds idle_timeout;
  tcp::acceptor acceptor;
  std::function<Status()> health;  // set before Start(), read-only afterwards
  std::mutex mu;
  bool stopped = false;

  static Awaitable<void> AcceptLoop(std::shared_ptr<State> self) {
    for (;;) {
      auto [ec, socket] =
          co_await self->acceptor.async_accept(asio::make_strand(self->executor), kNoThrow);
      if (!self->acceptor.is_open()) break;
      if (ec) continue;
      asio::co_spawn(socket.get_executor(), Serve(self, std::move(socket)), asio::detached);
    }
  }

  static Awaitable<void> Serve(std::shared_ptr<State> self, tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::empty_body> parser;
      parser.header_limit(kMaxHeaderBytes);
      stream.expires_after(self->idle_timeout);
      auto [ec, n] = co_await http::async_read(stream, buffer, parser, kNoThrow);
      if (ec) break;  // closed, idle, oversized or malformed: drop the connection
      auto res = Answer(parser.get(), self->health);
      const bool keep = res.keep_alive();
      stream.expires_after(self->idle_timeout);
      auto [wec, wn] = co_await http::async_write(stream, res, kNoThrow);
      if (wec || !keep) break;
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  }
};

MetricsServer::MetricsServer(asio::any_io_executor executor, std::string host, uint16_t port,
                             std::chrono::milliseconds idle_timeout)
    : state_(std::make_shared<State>(std::move(executor), std::move(host), port, idle_timeout)) {}

MetricsServer::~MetricsServer() { Stop(); }

void MetricsServer::SetHealthCheck(std::function<Status()> check) {
  state_->health = std::move(check);
}

Status MetricsServer::Start() {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(state_->host, ec);
  if (ec)
    return InvalidArgumentError("--metrics-listen: '" + state_->host + "' is not an IP address");
  tcp::endpoint ep(addr, state_->port);
  auto& a = state_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    a.close();
    std::string where = state_->host + ":" + std::to_string(state_->port);
    if (ec == asio::error::address_in_use) {
      return Status(ErrorCode::kUnavailable, "metrics address " + where + " is already in use");
    }
    return Status(ErrorCode::kIo, "metrics address " + where + ": " + ec.message());
  }
  asio::co_spawn(a.get_executor(), State::AcceptLoop(state_), asio::detached);
  return Status::Ok();
}

void MetricsServer::Stop() {
  std::lock_guard lock(state_->mu);
  if (state_->stopped) return;
  state_->stopped = true;
  asio::post(state_->acceptor.get_executor(), [s = state_] {
    boost::system::error_code ignored;
    s->acceptor.close(ignored);
  });
}

uint16_t MetricsServer::port() const {
  boost::system::error_code ec;
  auto ep = state_->acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

}  // namespace bucketfs::server
