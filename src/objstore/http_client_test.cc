// HttpClient against a scripted HTTP server on loopback: response body limits (the client's
// default and a request's own) and binary bodies.
#include "objstore/http_client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <optional>
#include <string>

#include "objstore/testing/http_server.h"

namespace bucketfs::objstore {
namespace {

using testing::ScriptedHttpServer;

Awaitable<void> SendInto(HttpClient& client, HttpRequest request,
                         std::optional<Result<HttpResponse>>* out) {
  out->emplace(co_await client.Send(std::move(request)));
}

Result<HttpResponse> Send(const ScriptedHttpServer& server, HttpRequest request,
                          HttpLimits limits = {}) {
  asio::io_context io;
  auto endpoint = ParseEndpoint(server.url());
  EXPECT_TRUE(endpoint.ok());
  HttpClient client(io.get_executor(), *endpoint, HttpTimeouts{}, limits);
  std::optional<Result<HttpResponse>> out;
  asio::co_spawn(io, SendInto(client, std::move(request), &out), asio::detached);
  io.run();
  if (!out) return InternalError("did not complete");
  return std::move(*out);
}

HttpRequest Get(uint64_t max_body = 0, bool binary = false) {
  HttpRequest r;
  r.target = "/b/k";
  r.max_response_body = max_body;
  r.binary_response = binary;
  return r;
}

TEST(HttpClientTest, ABodyOverTheClientsLimitFailsWithTooBig) {
  ScriptedHttpServer server([](const std::string&) {
    return ScriptedHttpServer::Response("200 OK", std::string(5000, 'x'));
  });
  auto r = Send(server, Get(), HttpLimits{4096});
  EXPECT_EQ(r.status().code(), ErrorCode::kTooBig);
  EXPECT_NE(r.status().message().find("over the limit of 4096 bytes"), std::string::npos)
      << r.status().ToString();
  EXPECT_EQ(server.requests(), 1) << "a body over the limit must not be retried";

  auto fits = Send(server, Get(), HttpLimits{5000});
  ASSERT_TRUE(fits.ok()) << fits.status().ToString();
  EXPECT_EQ(fits->body.size(), 5000u);
}

TEST(HttpClientTest, ARequestsOwnLimitOverridesTheClients) {
  ScriptedHttpServer server([](const std::string&) {
    return ScriptedHttpServer::Response("206 Partial Content", std::string(100, 'y'));
  });
  EXPECT_EQ(Send(server, Get(/*max_body=*/99)).status().code(), ErrorCode::kTooBig);
  auto r = Send(server, Get(/*max_body=*/100), HttpLimits{10});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->body, std::string(100, 'y'));
}

TEST(HttpClientTest, AChunkedBodyIsCutOffAtTheLimit) {
  ScriptedHttpServer server([](const std::string&) {
    std::string chunks;
    for (int i = 0; i < 10; ++i) chunks += "400\r\n" + std::string(1024, 'z') + "\r\n";
    return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + "0\r\n\r\n";
  });
  EXPECT_EQ(Send(server, Get(/*max_body=*/4096)).status().code(), ErrorCode::kTooBig);
  auto whole = Send(server, Get(/*max_body=*/10240));
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  EXPECT_EQ(whole->body.size(), 10240u);
}

TEST(HttpClientTest, BinaryBodiesArriveAsBytesAndErrorsAsText) {
  std::atomic<bool> fail{false};
  ScriptedHttpServer server([&fail](const std::string&) {
    return fail ? ScriptedHttpServer::Response("404 Not Found", "<Error>NoSuchKey</Error>")
                : ScriptedHttpServer::Response("200 OK", "\x01\x02\x03");
  });
  auto r = Send(server, Get(0, /*binary=*/true));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->data, (Bytes{1, 2, 3}));
  EXPECT_TRUE(r->body.empty());
  fail = true;
  r = Send(server, Get(0, /*binary=*/true));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 404u);
  EXPECT_EQ(r->body, "<Error>NoSuchKey</Error>");
  EXPECT_TRUE(r->data.empty());
}

}  // namespace
}  // namespace bucketfs::objstore
