#include "server/metrics_server.h"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <mutex>
#include <thread>

#include "base/metrics.h"

namespace bucketfs::server {
namespace {

using tcp = asio::ip::tcp;

class MetricsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<MetricsServer>(io_.get_executor(), "127.0.0.1", 0,
                                              std::chrono::milliseconds(500));
    server_->SetHealthCheck([this]() -> Status {
      std::lock_guard lock(health_mu_);
      return health_;
    });
    ASSERT_TRUE(server_->Start().ok());
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    server_->Stop();
    work_.reset();
    io_.stop();
    thread_.join();
  }

  // Sends `request` raw and returns everything the server answers before closing.
  std::string Exchange(const std::string& request) {
    asio::io_context client;
    tcp::socket s(client);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
    asio::write(s, asio::buffer(request));
    std::string out;
    boost::system::error_code ec;
    char buf[4096];
    for (;;) {
      std::size_t n = s.read_some(asio::buffer(buf), ec);
      out.append(buf, n);
      if (ec) break;
    }
    return out;
  }

  void SetHealth(Status s) {
    std::lock_guard lock(health_mu_);
    health_ = std::move(s);
  }

  std::mutex health_mu_;
  Status health_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  std::unique_ptr<MetricsServer> server_;
  std::thread thread_;
};

TEST_F(MetricsServerTest, ServesTheDefaultRegistry) {
  DefaultMetrics().GetCounter("test_metrics_server_total", "A test counter.").Inc(41);
  std::string out = Exchange("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
  EXPECT_NE(out.find("# TYPE test_metrics_server_total counter\ntest_metrics_server_total 41\n"),
            std::string::npos);
}

TEST_F(MetricsServerTest, KeepAliveServesSeveralScrapes) {
  std::string req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  std::string out =
      Exchange(req + req + "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::size_t n = 0;
  for (std::size_t p = out.find("HTTP/1.1 200"); p != std::string::npos;
       p = out.find("HTTP/1.1 200", p + 1)) {
    ++n;
  }
  EXPECT_EQ(n, 3u);
}

TEST_F(MetricsServerTest, OtherPathsAndMethodsAndGarbage) {
  EXPECT_EQ(
      Exchange("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").rfind("HTTP/1.1 404", 0),
      0u);
  EXPECT_EQ(Exchange("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: "
                     "close\r\n\r\n")
                .rfind("HTTP/1.1 405", 0),
            0u);
  // Not HTTP at all, and headers past the bound: the connection is closed, the server lives on.
  EXPECT_EQ(Exchange("\x16\x03\x01 garbage\r\n\r\n").find("200"), std::string::npos);
  EXPECT_EQ(Exchange("GET /metrics HTTP/1.1\r\nX: " + std::string(20000, 'a') + "\r\n\r\n")
                .find("200 OK"),
            std::string::npos);
  EXPECT_EQ(Exchange("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .rfind("HTTP/1.1 200", 0),
            0u);
}

TEST_F(MetricsServerTest, HealthzFollowsTheHealthCheck) {
  const std::string get = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  SetHealth(UnavailableError("starting: checking buckets"));
  std::string out = Exchange(get);
  EXPECT_EQ(out.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0), 0u) << out;
  EXPECT_TRUE(out.ends_with("\r\n\r\nstarting: checking buckets\n")) << out;
  SetHealth(Status::Ok());
  out = Exchange(get);
  EXPECT_EQ(out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << out;
  EXPECT_TRUE(out.ends_with("\r\n\r\nok\n")) << out;
  EXPECT_NE(out.find("Cache-Control: no-store"), std::string::npos) << out;
  out = Exchange("GET /healthz?verbose HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << out;
  SetHealth(UnavailableError("shutting down"));
  out = Exchange(get);
  EXPECT_EQ(out.rfind("HTTP/1.1 503", 0), 0u) << out;
  EXPECT_TRUE(out.ends_with("shutting down\n")) << out;
  EXPECT_EQ(Exchange("POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: "
                     "close\r\n\r\n")
                .rfind("HTTP/1.1 405", 0),
            0u);
  EXPECT_EQ(Exchange("GET /healthzz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .rfind("HTTP/1.1 404", 0),
            0u);
}

TEST(MetricsServerHealthTest, WithoutACheckHealthzIsOk) {
  asio::io_context io;
  MetricsServer server(io.get_executor(), "127.0.0.1", 0);
  ASSERT_TRUE(server.Start().ok());
  std::thread t([&io] { io.run_for(std::chrono::seconds(5)); });
  asio::io_context client;
  tcp::socket s(client);
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server.port()));
  asio::write(s, asio::buffer(
                     std::string("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")));
  std::string out;
  boost::system::error_code ec;
  char buf[1024];
  for (std::size_t n; (n = s.read_some(asio::buffer(buf), ec)) > 0 || !ec;) out.append(buf, n);
  server.Stop();
  io.stop();
  t.join();
  EXPECT_EQ(out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << out;
  EXPECT_TRUE(out.ends_with("ok\n")) << out;
}

TEST(MetricsServerStartTest, AddressInUseIsAClearError) {
  asio::io_context io;
  MetricsServer a(io.get_executor(), "127.0.0.1", 0);
  ASSERT_TRUE(a.Start().ok());
  MetricsServer b(io.get_executor(), "127.0.0.1", a.port());
  Status s = b.Start();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("already in use"), std::string::npos) << s.ToString();
  MetricsServer c(io.get_executor(), "not-an-ip", 0);
  EXPECT_FALSE(c.Start().ok());
}

}  // namespace
}  // namespace bucketfs::server
