// S3Store against a tiny HTTP server on loopback: the retry policy (503 SlowDown a given number of
// times before success) and the bounds on response bodies (a ranged GET gets no more than its
// range; anything else at most S3Config::max_response_body).
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <optional>
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

S3Config LocalConfig(const testing::ScriptedHttpServer& server) {
  S3Config config;
  config.endpoint = server.url();
  config.bucket = "b";
  config.credentials = {"AKID", "secret", ""};
  config.max_attempts = 2;
  config.backoff_base = std::chrono::milliseconds(1);
  return config;
}

Awaitable<void> GetInto(ObjectStore& store, GetOptions options,
                        std::optional<Result<GetResult>>* out) {
  out->emplace(co_await store.Get("k", std::move(options)));
}

Result<GetResult> Get(S3Config config, std::optional<ByteRange> range) {
  asio::io_context io;
  auto store = S3Store::Create(io.get_executor(), std::move(config));
  EXPECT_TRUE(store.ok());
  GetOptions options;
  options.range = range;
  std::optional<Result<GetResult>> out;
  asio::co_spawn(io, GetInto(**store, options, &out), asio::detached);
  io.run();
  if (!out) return InternalError("did not complete");
  return std::move(*out);
}

// Answers every GET with `status` and `body` (and a Content-Range for 206).
std::string Answer(const std::string& status, const std::string& body) {
  const std::string range =
      status.rfind("206", 0) == 0
          ? "Content-Range: bytes 0-" + std::to_string(body.size() - 1) + "/1000\r\nETag: \"e\"\r\n"
          : "ETag: \"e\"\r\n";
  return testing::ScriptedHttpServer::Response(status, body, range);
}

TEST(S3BodyLimitTest, ARangedGetGetsItsBytesWithoutACopy) {
  testing::ScriptedHttpServer server(
      [](const std::string&) { return Answer("206 Partial Content", std::string(100, 'd')); });
  auto r = Get(LocalConfig(server), ByteRange{0, 100});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->data, Bytes(100, 'd'));
  EXPECT_EQ(r->data.capacity(), 100u);
  EXPECT_EQ(r->info.size, 1000u);
  EXPECT_EQ(r->info.etag, "e");
}

TEST(S3BodyLimitTest, ARangedGetLongerThanItsRangeIsAProtocolError) {
  testing::ScriptedHttpServer server(
      [](const std::string&) { return Answer("206 Partial Content", std::string(101, 'd')); });
  auto r = Get(LocalConfig(server), ByteRange{0, 100});
  EXPECT_EQ(r.status().code(), ErrorCode::kProtocol);
  EXPECT_NE(r.status().message().find("longer than the range"), std::string::npos)
      << r.status().ToString();
  EXPECT_EQ(server.requests(), 1) << "not retried";
}

TEST(S3BodyLimitTest, TheWholeObjectForARangeFromAnOffsetIsAProtocolError) {
  // A server that ignores Range: the first bytes of the object, not those asked for.
  testing::ScriptedHttpServer server(
      [](const std::string&) { return Answer("200 OK", std::string(50, 'w')); });
  auto r = Get(LocalConfig(server), ByteRange{10, 100});
  EXPECT_EQ(r.status().code(), ErrorCode::kProtocol);
  EXPECT_NE(r.status().message().find("answered 200"), std::string::npos) << r.status().ToString();
  // From offset 0 the whole (short) object is the range.
  auto from_start = Get(LocalConfig(server), ByteRange{0, 100});
  ASSERT_TRUE(from_start.ok()) << from_start.status().ToString();
  EXPECT_EQ(from_start->data.size(), 50u);
}

TEST(S3BodyLimitTest, OtherBodiesAreBoundedByMaxResponseBody) {
  testing::ScriptedHttpServer server(
      [](const std::string&) { return Answer("200 OK", std::string(5000, 'o')); });
  S3Config config = LocalConfig(server);
  config.max_response_body = 4096;
  auto whole = Get(config, std::nullopt);  // no range: the hard bound
  EXPECT_EQ(whole.status().code(), ErrorCode::kTooBig);
  EXPECT_NE(whole.status().message().find("4096"), std::string::npos) << whole.status().ToString();
  // A range asks for what it asks for, beyond the bound too.
  testing::ScriptedHttpServer ranged(
      [](const std::string&) { return Answer("206 Partial Content", std::string(5000, 'r')); });
  config = LocalConfig(ranged);
  config.max_response_body = 4096;
  auto r = Get(config, ByteRange{0, 5000});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->data.size(), 5000u);
}

}  // namespace
}  // namespace bucketfs::objstore
