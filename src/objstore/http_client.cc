#include "objstore/http_client.h"

#include <openssl/ssl.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/http/vector_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <cctype>
#include <cstdlib>
#include <limits>
#include <optional>

namespace bucketfs::objstore {
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

namespace {

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxIdle = 64;

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

}  // namespace

struct HttpClient::Connection {
  explicit Connection(asio::any_io_executor ex) : tcp(ex) {}
  beast::tcp_stream tcp;
  std::optional<beast::ssl_stream<beast::tcp_stream&>> tls;
  beast::flat_buffer buffer;
};

std::string HttpResponse::Header(const std::string& name) const {
  auto it = headers.find(Lower(name));
  return it == headers.end() ? std::string() : it->second;
}

Result<HttpEndpoint> ParseEndpoint(const std::string& url) {
  HttpEndpoint ep;
  std::string rest;
  if (url.rfind("https://", 0) == 0) {
    ep.tls = true;
    rest = url.substr(8);
  } else if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else {
    return InvalidArgumentError("endpoint '" + url + "' must start with http:// or https://");
  }
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.empty() || rest.find('/') != std::string::npos) {
    return InvalidArgumentError("endpoint '" + url + "' must be scheme://host[:port]");
  }
  ep.port = ep.tls ? 443 : 80;
  const auto bracket = rest.rfind(']');
  const auto colon = rest.rfind(':');
  if (colon != std::string::npos && (bracket == std::string::npos || colon > bracket)) {
    int port = std::atoi(rest.c_str() + colon + 1);
    if (port <= 0 || port > 65535) return InvalidArgumentError("bad port in '" + url + "'");
    ep.port = static_cast<uint16_t>(port);
    rest = rest.substr(0, colon);
  }
  if (rest.size() > 2 && rest.front() == '[' && rest.back() == ']')
    rest = rest.substr(1, rest.size() - 2);
  ep.host = rest;
  return ep;
}

HttpClient::HttpClient(asio::any_io_executor executor, HttpEndpoint endpoint, HttpTimeouts timeouts,
                       HttpLimits limits)
    : executor_(std::move(executor)),
      endpoint_(std::move(endpoint)),
      timeouts_(timeouts),
      limits_(limits) {
  if (endpoint_.tls) {
    tls_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
    boost::system::error_code ec;
    tls_->set_default_verify_paths(ec);
    if (const char* bundle = std::getenv("AWS_CA_BUNDLE"); bundle && *bundle) {
      tls_->load_verify_file(bundle, ec);
    }
    tls_->set_verify_mode(asio::ssl::verify_peer, ec);
  }
}

HttpClient::~HttpClient() = default;

std::unique_ptr<HttpClient::Connection> HttpClient::TakeIdle() {
  std::lock_guard lock(mu_);
  if (idle_.empty()) return nullptr;
  auto c = std::move(idle_.back());
  idle_.pop_back();
  return c;
}

void HttpClient::ReturnIdle(std::unique_ptr<Connection> c) {
  std::lock_guard lock(mu_);
  if (idle_.size() < kMaxIdle) idle_.push_back(std::move(c));
}

Awaitable<Result<std::unique_ptr<HttpClient::Connection>>> HttpClient::Connect() {
  const std::string where = endpoint_.host + ":" + std::to_string(endpoint_.port);
  tcp::resolver resolver(executor_);
  auto [rec, results] =
      co_await resolver.async_resolve(endpoint_.host, std::to_string(endpoint_.port), kNoThrow);
  if (rec) co_return UnavailableError("cannot resolve " + where + ": " + rec.message());
  auto conn = std::make_unique<Connection>(executor_);
  conn->tcp.expires_after(timeouts_.connect);
  auto [cec, ep] = co_await conn->tcp.async_connect(results, kNoThrow);
  if (cec) co_return UnavailableError("cannot connect to " + where + ": " + cec.message());
  conn->tcp.socket().set_option(tcp::no_delay(true), cec);
  if (endpoint_.tls) {
    conn->tls.emplace(conn->tcp, *tls_);
    SSL_set_tlsext_host_name(conn->tls->native_handle(), endpoint_.host.c_str());
    conn->tls->set_verify_callback(asio::ssl::host_name_verification(endpoint_.host));
    auto [hec] = co_await conn->tls->async_handshake(asio::ssl::stream_base::client, kNoThrow);
    if (hec) co_return UnavailableError("TLS handshake with " + where + ": " + hec.message());
  }
  co_return std::move(conn);
}

namespace {

// Bodies are read as bytes: a binary response is handed over without a copy; text (XML, error
// documents) is copied into a string, which costs little at their sizes.
using BodyParser = http::response_parser<http::vector_body<uint8_t>>;

template <typename Stream>
Awaitable<boost::system::error_code> RoundTrip(Stream& stream, beast::flat_buffer& buffer,
                                               http::request<http::string_body>& req,
                                               BodyParser& parser) {
  auto [wec, wn] = co_await http::async_write(stream, req, kNoThrow);
  if (wec) co_return wec;
  auto [rec, rn] = co_await http::async_read(stream, buffer, parser, kNoThrow);
  co_return rec;
}

}  // namespace

Awaitable<Result<HttpResponse>> HttpClient::Send(HttpRequest request) {
  http::request<http::string_body> req;
  req.method_string(request.method);
  req.target(request.target);
  req.version(11);
  req.keep_alive(true);
  for (const auto& [k, v] : request.headers) req.set(k, v);
  req.body() = std::move(request.body);
  req.prepare_payload();
  const bool is_head = request.method == "HEAD";
  const uint64_t body_limit =
      request.max_response_body > 0 ? request.max_response_body : limits_.max_response_body;

  for (int attempt = 0; attempt < 2; ++attempt) {
    auto conn = TakeIdle();
    const bool reused = conn != nullptr;
    if (!conn) {
      auto c = co_await Connect();
      if (!c.ok()) co_return c.status();
      conn = std::move(c).value();
    }
    BodyParser parser;
    parser.body_limit(body_limit);
    parser.skip(is_head);
    conn->tcp.expires_after(timeouts_.request);
    boost::system::error_code ec;
    if (conn->tls) {
      ec = co_await RoundTrip(*conn->tls, conn->buffer, req, parser);
    } else {
      ec = co_await RoundTrip(conn->tcp, conn->buffer, req, parser);
    }
    if (ec) {
      const std::string where = endpoint_.host + ":" + std::to_string(endpoint_.port);
      if (ec == http::error::body_limit) {
        // The connection is dropped with the unread rest of the body.
        co_return Status(ErrorCode::kTooBig, request.method + " " + request.target + " at " +
                                                 where + ": response body over the limit of " +
                                                 std::to_string(body_limit) + " bytes");
      }
      // A pooled connection the server already closed fails at once: retry on a fresh one.
      if (reused && ec != beast::error::timeout) continue;
      if (ec == beast::error::timeout) {
        co_return Status(ErrorCode::kTimeout, "request to " + where + " timed out");
      }
      co_return UnavailableError("request to " + where + " failed: " + ec.message());
    }
    auto& res = parser.get();
    HttpResponse out;
    out.status = res.result_int();
    for (const auto& f : res)
      out.headers[Lower(std::string(f.name_string()))] = std::string(f.value());
    if (request.binary_response && out.status / 100 == 2) {
      out.data = std::move(res.body());
    } else {
      out.body.assign(res.body().begin(), res.body().end());
    }
    if (res.keep_alive()) {
      conn->tcp.expires_never();
      ReturnIdle(std::move(conn));
    }
    co_return out;
  }
  co_return UnavailableError("request to " + endpoint_.host + " failed on a fresh connection");
}

}  // namespace bucketfs::objstore
