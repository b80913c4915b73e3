// HttpClient: HTTP/1.1 to one endpoint (scheme, host, port) over Boost.Beast, with a keep-alive
// connection pool, TLS (OpenSSL, peer verification against the system CAs or AWS_CA_BUNDLE, SNI),
// connect/request timeouts and a bound on response bodies (HttpLimits; per request
// HttpRequest::max_response_body): a longer body fails the request with kTooBig as soon as its
// Content-Length is seen (or, when chunked, once the bound is passed), before it is buffered.
//
// Thread-safety: Send() may be called from any number of coroutines at once; each request takes
// a pooled connection (or opens one) for its duration. The pool mutex is never held across a
// co_await. Errors come back as Status (kUnavailable for connection failures, kTimeout), never
// as exceptions.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/async.h"
#include "base/bytes.h"
#include "base/status.h"

namespace bucketfs::objstore {

struct HttpEndpoint {
  bool tls = false;
  std::string host;
  uint16_t port = 0;
};

// Parses "http(s)://host[:port]" (a path is not allowed).
Result<HttpEndpoint> ParseEndpoint(const std::string& url);

struct HttpRequest {
  std::string method = "GET";
  std::string target = "/";  // path and query, already encoded
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Most response body bytes accepted; 0: the client's HttpLimits::max_response_body.
  uint64_t max_response_body = 0;
  // A 2xx response's body goes to HttpResponse::data as received (no copy into a string).
  bool binary_response = false;
};

struct HttpResponse {
  unsigned status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;                            // empty when the body is in `data`
  Bytes data;  // the body of a 2xx response to a binary_response request
  std::string Header(const std::string& name) const;
};

struct HttpTimeouts {
  std::chrono::milliseconds connect{5000};
  std::chrono::milliseconds request{30000};
};

struct HttpLimits {
  // The longest response body accepted unless a request asks for less (or more).
  uint64_t max_response_body = uint64_t{64} << 20;
};

class HttpClient {
 public:
  HttpClient(asio::any_io_executor executor, HttpEndpoint endpoint, HttpTimeouts timeouts,
             HttpLimits limits = {});
  ~HttpClient();

  Awaitable<Result<HttpResponse>> Send(HttpRequest request);
  const HttpEndpoint& endpoint() const { return endpoint_; }

 private:
  struct Connection;
  Awaitable<Result<std::unique_ptr<Connection>>> Connect();
  std::unique_ptr<Connection> TakeIdle();
  void ReturnIdle(std::unique_ptr<Connection> c);

  asio::any_io_executor executor_;
  HttpEndpoint endpoint_;
  HttpTimeouts timeouts_;
  HttpLimits limits_;
  std::unique_ptr<asio::ssl::context> tls_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_;  // guarded by mu_
};

}  // namespace bucketfs::objstore
