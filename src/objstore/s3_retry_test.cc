// S3Store's retry policy against a tiny HTTP server on loopback that answers 503 SlowDown a
// given number of times before succeeding.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <thread>

#include "objstore/s3_store.h"

namespace bucketfs::objstore {
namespace {

using asio::ip::tcp;

// Serves one connection at a time; the first `failures` requests get 503 SlowDown.
class FlakyServer {
 public:
  explicit FlakyServer(int failures)
      : failures_(failures), acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    thread_ = std::thread([this] { Serve(); });
  }
  ~FlakyServer() {
    stop_ = true;
    boost::system::error_code ec;
    tcp::socket poke(io_);
    poke.connect(acceptor_.local_endpoint(), ec);
    thread_.join();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  int requests() const { return requests_; }

 private:
  void Serve() {
    while (!stop_) {
      tcp::socket s(io_);
      boost::system::error_code ec;
      acceptor_.accept(s, ec);
      if (ec || stop_) return;
      asio::streambuf buf;
      while (asio::read_until(s, buf, "\r\n\r\n", ec) && !ec) {
        const bool head = std::string(asio::buffers_begin(buf.data()),
                                      asio::buffers_begin(buf.data()) + 4) == "HEAD";
        buf.consume(buf.size());
        const bool fail = requests_++ < failures_;
        const std::string body =
            fail
                ? "<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>"
                : "";
        std::string reply =
            std::string(fail ? "HTTP/1.1 503 Slow Down\r\n" : "HTTP/1.1 200 OK\r\n") +
            "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
            (head ? "" : body);  // a HEAD reply has no body
        asio::write(s, asio::buffer(reply), ec);
      }
    }
  }

  int failures_;
  std::atomic<int> requests_{0};
  std::atomic<bool> stop_{false};
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::thread thread_;
};

Status CheckBucket(uint16_t port, int max_attempts) {
  asio::io_context io;
  S3Config config;
  config.endpoint = "http://127.0.0.1:" + std::to_string(port);
  config.bucket = "b";
  config.credentials = {"AKID", "secret", ""};
  config.max_attempts = max_attempts;
  config.backoff_base = std::chrono::milliseconds(5);
  config.backoff_cap = std::chrono::milliseconds(20);
  auto store = S3Store::Create(io.get_executor(), config);
  EXPECT_TRUE(store.ok());
  auto f = asio::co_spawn(io, (*store)->CheckBucket(), asio::use_future);
  io.run();
  return f.get();
}

TEST(S3RetryTest, SlowDownIsRetriedUntilSuccess) {
  FlakyServer server(2);
  Status s = CheckBucket(server.port(), 5);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(server.requests(), 3);
}

TEST(S3RetryTest, GivesUpAfterMaxAttemptsWithUnavailable) {
  FlakyServer server(100);
  Status s = CheckBucket(server.port(), 3);
  EXPECT_EQ(s.code(), ErrorCode::kUnavailable);
  EXPECT_NE(s.message().find("after 3 attempts"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("503"), std::string::npos) << s.ToString();
  EXPECT_EQ(server.requests(), 3);
}

}  // namespace
}  // namespace bucketfs::objstore
