#include "cli/admin_client.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <optional>

#include "base/async.h"

namespace bucketfs::cli {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using asio::local::stream_protocol;

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxReplySize = 16 * 1024 * 1024;

ErrorCode CodeForHttpStatus(unsigned status) {
  switch (status) {
    case 400:
      return ErrorCode::kInvalidArgument;
    case 403:
      return ErrorCode::kAuth;
    case 404:
      return ErrorCode::kNotFound;
    case 409:
      return ErrorCode::kExists;
    case 503:
      return ErrorCode::kUnavailable;
    default:
      return ErrorCode::kIo;
  }
}

Awaitable<Result<AdminReply>> Exchange(std::string socket_path, std::string method,
                                       std::string target, std::chrono::seconds timeout,
                                       std::string json_body) {
  const std::string where = "the gateway at " + socket_path;
  beast::basic_stream<stream_protocol> stream(co_await asio::this_coro::executor);
  stream.expires_after(timeout);  // one deadline for the whole exchange
  auto [cec] = co_await stream.async_connect(stream_protocol::endpoint(socket_path), kNoThrow);
  if (cec == beast::error::timeout) {
    co_return Status(ErrorCode::kTimeout, where + " did not accept the connection in time");
  }
  if (cec) {
    co_return UnavailableError("cannot reach " + where +
                               " (is `bucketfs serve` running?): " + cec.message());
  }
  http::request<http::string_body> req;
  req.method_string(method);
  req.target(target);
  req.version(11);
  req.set(http::field::host, "localhost");
  req.set(http::field::user_agent, "bucketfs-cli");
  req.keep_alive(false);
  if (!json_body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = std::move(json_body);
  }
  req.prepare_payload();
  auto [wec, wn] = co_await http::async_write(stream, req, kNoThrow);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxReplySize);
  boost::system::error_code rec = wec;
  if (!rec)
    std::tie(rec, std::ignore) = co_await http::async_read(stream, buffer, parser, kNoThrow);
  if (rec == beast::error::timeout) {
    co_return Status(ErrorCode::kTimeout,
                     where + " did not answer within " + std::to_string(timeout.count()) + " s");
  }
  if (rec) co_return UnavailableError("lost the connection to " + where + ": " + rec.message());

  const auto& res = parser.get();
  auto json = server::ParseJson(res.body());
  const unsigned status = res.result_int();
  if (status >= 200 && status < 300) {
    if (!json.ok()) {
      co_return ProtocolError(where + " sent a reply that is not JSON: " + json.status().message());
    }
    co_return AdminReply{std::move(json).value(), res.body()};
  }
  std::string message = json.ok() ? json->GetString("error") : "";
  if (message.empty()) message = where + " answered HTTP " + std::to_string(status);
  co_return Status(CodeForHttpStatus(status), std::move(message));
}

}  // namespace

Result<AdminReply> CallAdmin(const std::string& socket_path, std::string_view method,
                             const std::string& target, std::chrono::seconds timeout,
                             const std::string& json_body) {
  asio::io_context io;
  std::optional<Result<AdminReply>> result;
  auto run = [&]() -> Awaitable<void> {
    result.emplace(co_await Exchange(socket_path, std::string(method), target, timeout, json_body));
  };
  asio::co_spawn(io, run, [&result](std::exception_ptr e) {
    if (e) result.emplace(InternalError("admin request failed unexpectedly"));
  });
  io.run();
  if (!result) return InternalError("admin request did not complete");
  return std::move(*result);
}

std::string QueryEscape(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
                            c == '~' || c == '/';
    if (unreserved) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

}  // namespace bucketfs::cli
