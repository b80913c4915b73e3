// HttpClient: HTTP/1.1 to one endpoint (scheme, host, port) over Boost.Beast, with a keep-alive
// connection pool, TLS (OpenSSL, peer verification against the system CAs or AWS_CA_BUNDLE, SNI)
// and connect/request timeouts.
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
};

struct HttpResponse {
  unsigned status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string Header(const std::string& name) const;
};

struct HttpTimeouts {
  std::chrono::milliseconds connect{5000};
  std::chrono::milliseconds request{30000};
};

class HttpClient {
 public:
  HttpClient(asio::any_io_executor executor, HttpEndpoint endpoint, HttpTimeouts timeouts);
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
  std::unique_ptr<asio::ssl::context> tls_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_;  // guarded by mu_
};

}  // namespace bucketfs::objstore
