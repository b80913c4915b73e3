// ScriptedHttpServer: a tiny HTTP/1.1 server on loopback for objstore tests. It serves one
// connection at a time on its own thread; the head of each request (request line and headers; the
// tests send no request bodies) goes to the responder, which returns the raw bytes to send back
// (status line, headers, body) or "" to close the connection. Test-only, never linked into the
// product. Thread-safety: requests() may be read from any thread.
#pragma once

#include <atomic>
#include <boost/asio/buffers_iterator.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "base/async.h"

namespace bucketfs::objstore::testing {

class ScriptedHttpServer {
 public:
  using Responder = std::function<std::string(const std::string& head)>;

  explicit ScriptedHttpServer(Responder responder)
      : responder_(std::move(responder)),
        acceptor_(io_, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    thread_ = std::thread([this] { Serve(); });
  }
  ~ScriptedHttpServer() {
    stop_ = true;
    boost::system::error_code ec;
    asio::ip::tcp::socket poke(io_);
    poke.connect(acceptor_.local_endpoint(), ec);
    thread_.join();
  }
  ScriptedHttpServer(const ScriptedHttpServer&) = delete;
  ScriptedHttpServer& operator=(const ScriptedHttpServer&) = delete;

  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port()); }
  int requests() const { return requests_; }

  // "HTTP/1.1 <status>\r\n" plus Content-Length and `extra_headers` (each ending in "\r\n"), and
  // `body` unless `head_only`.
  static std::string Response(const std::string& status, const std::string& body,
                              const std::string& extra_headers = "", bool head_only = false) {
    return "HTTP/1.1 " + status + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
           extra_headers + "\r\n" + (head_only ? "" : body);
  }

 private:
  void Serve() {
    while (!stop_) {
      asio::ip::tcp::socket s(io_);
      boost::system::error_code ec;
      acceptor_.accept(s, ec);
      if (ec || stop_) return;
      asio::streambuf buf;
      while (asio::read_until(s, buf, "\r\n\r\n", ec) && !ec) {
        const std::string head(asio::buffers_begin(buf.data()), asio::buffers_end(buf.data()));
        buf.consume(buf.size());
        ++requests_;
        const std::string reply = responder_(head);
        if (reply.empty()) break;
        asio::write(s, asio::buffer(reply), ec);
        if (ec) break;
      }
    }
  }

  Responder responder_;
  std::atomic<int> requests_{0};
  std::atomic<bool> stop_{false};
  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
};

}  // namespace bucketfs::objstore::testing
