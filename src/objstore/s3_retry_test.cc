// S3Store's retry policy against a tiny HTTP server on loopback that answers 503 SlowDown a
// given number of times before succeeding.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <string>

#include "objstore/s3_store.h"
#include "objstore/testing/http_server.h"

namespace bucketfs::objstore {
namespace {

// The first `failures` requests get 503 SlowDown, the others 200.
class FlakyServer {
 public:
  explicit FlakyServer(int failures)
      : failures_(failures), server_([this](const std::string& head) { return Answer(head); }) {}
  uint16_t port() const { return server_.port(); }
  int requests() const { return server_.requests(); }

 private:
  std::string Answer(const std::string& head) {
    const bool fail = answered_++ < failures_;
    const std::string body =
        fail ? "<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>"
             : "";
    return testing::ScriptedHttpServer::Response(fail ? "503 Slow Down" : "200 OK", body, "",
                                                 head.rfind("HEAD", 0) == 0);
  }

  const int failures_;
  std::atomic<int> answered_{0};
  testing::ScriptedHttpServer server_;  // last: its thread calls Answer
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
