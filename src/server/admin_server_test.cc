#include "server/admin_server.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>

#include "server/json.h"

namespace bucketfs::server {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using asio::local::stream_protocol;

constexpr char kStatusJson[] = R"({"version":"0.1.0","exports":[]})";
constexpr char kExportsJson[] = R"({"exports":[{"name":"demo"}]})";

struct HttpResult {
  int status = 0;
  std::string body;
  std::string content_type;
  std::string allow;
};

// A blocking HTTP/1.1 client over the unix socket `path`.
HttpResult Send(const std::string& path, http::verb method, const std::string& target,
                const std::string& body = "") {
  asio::io_context io;
  stream_protocol::socket socket(io);
  socket.connect(stream_protocol::endpoint(path));
  http::request<http::string_body> req(method, target, 11);
  req.set(http::field::host, "localhost");
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  http::write(socket, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(socket, buffer, res);
  return HttpResult{static_cast<int>(res.result_int()), res.body(),
                    std::string(res[http::field::content_type]),
                    std::string(res[http::field::allow])};
}

// Sends `raw` bytes and returns everything the server answers until it closes.
std::string SendRaw(const std::string& path, const std::string& raw) {
  asio::io_context io;
  stream_protocol::socket socket(io);
  socket.connect(stream_protocol::endpoint(path));
  boost::system::error_code ec;
  asio::write(socket, asio::buffer(raw), ec);
  std::string out;
  asio::read(socket, asio::dynamic_buffer(out), ec);
  return out;
}

std::string ErrorOf(const std::string& body) {
  auto v = ParseJson(body);
  EXPECT_TRUE(v.ok()) << body;
  return v.ok() ? v->GetString("error") : "";
}

class AdminServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bfs-admin-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/sub/admin.sock";  // the parent is created by Start()
  }

  void TearDown() override {
    StopServing();
    std::filesystem::remove_all(dir_);
  }

  AdminHandlers FakeHandlers() {
    AdminHandlers h;
    h.status_json = [] { return std::string(kStatusJson); };
    h.refresh = [this](std::string path) -> Awaitable<Status> {
      {
        std::lock_guard lock(mu_);
        refreshed_.push_back(path);
      }
      if (path == "/demo/slow") {
        asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(50));
        co_await t.async_wait(asio::use_awaitable);
        co_return Status::Ok();
      }
      if (path == "/demo/missing") co_return NotFoundError("no such file: missing");
      if (path == "/nosuch/x") co_return NotFoundError("no export named nosuch");
      if (path == "bad") co_return InvalidArgumentError("'bad' is not /EXPORT/PATH");
      if (path == "/demo/down") co_return UnavailableError("S3 is down");
      if (path == "/demo/broken") co_return IoError("disk on fire");
      co_return Status::Ok();
    };
    h.list_exports = [] { return std::string(kExportsJson); };
    h.create_export = [this](ExportConfig e) -> Awaitable<Result<std::string>> {
      {
        std::lock_guard lock(mu_);
        created_.push_back(e);
      }
      if (e.bucket == "dup-bucket") co_return Status(ErrorCode::kExists, "export /x exists");
      if (e.bucket == "missing-bucket") co_return NotFoundError("bucket 'missing-bucket' absent");
      if (e.bucket == "denied-bucket") co_return Status(ErrorCode::kAuth, "credentials rejected");
      if (e.bucket == "down-bucket") co_return UnavailableError("cannot connect");
      JsonWriter w;
      w.BeginObject().Key("created").String(e.name).EndObject();
      co_return w.str();
    };
    h.delete_export = [this](std::string name, bool force) -> Awaitable<Result<std::string>> {
      {
        std::lock_guard lock(mu_);
        deleted_.emplace_back(name, force);
      }
      if (name == "busy" && !force) {
        co_return Status(ErrorCode::kNotEmpty, "export /busy has 3 changes not yet uploaded");
      }
      if (name == "nosuch") co_return NotFoundError("no export named nosuch");
      JsonWriter w;
      w.BeginObject().Key("deleted").String(name).Key("force").Bool(force).EndObject();
      co_return w.str();
    };
    return h;
  }

  // Starts a server on path_ and an io thread; returns Start()'s status.
  Status StartServing(AdminServerOptions options = {}) {
    return StartServingWith(FakeHandlers(), options);
  }
  Status StartServingWith(AdminHandlers handlers, AdminServerOptions options = {}) {
    server_ =
        std::make_unique<AdminServer>(io_.get_executor(), path_, std::move(handlers), options);
    Status s = server_->Start();
    if (s.ok()) thread_ = std::thread([this] { io_.run(); });
    return s;
  }

  void StopServing() {
    if (server_) server_->Stop();
    io_.stop();
    if (thread_.joinable()) thread_.join();
    server_.reset();
  }

  std::vector<std::string> refreshed() {
    std::lock_guard lock(mu_);
    return refreshed_;
  }

  std::string dir_;
  std::string path_;
  asio::io_context io_;
  std::unique_ptr<AdminServer> server_;
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::string> refreshed_;
  std::vector<ExportConfig> created_;
  std::vector<std::pair<std::string, bool>> deleted_;
};

TEST_F(AdminServerTest, Status) {
  ASSERT_TRUE(StartServing().ok());
  HttpResult r = Send(path_, http::verb::get, "/v1/status");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.body, kStatusJson);
}

TEST_F(AdminServerTest, SocketIsOwnerOnlyAndRemovedAtStop) {
  ASSERT_TRUE(StartServing().ok());
  struct stat st;
  ASSERT_EQ(::lstat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600);
  StopServing();
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::symlink_status(path_)));
}

TEST_F(AdminServerTest, RefreshDecodesThePathAndReportsIt) {
  ASSERT_TRUE(StartServing().ok());
  HttpResult r = Send(path_, http::verb::post, "/v1/refresh?x=1&path=%2Fdemo%2Fa%20b%2Bc%22&y");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"refreshed":"/demo/a b+c\""})");
  EXPECT_EQ(refreshed(), std::vector<std::string>{"/demo/a b+c\""});

  r = Send(path_, http::verb::post, "/v1/refresh?path=/demo/slow");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"refreshed":"/demo/slow"})");
}

TEST_F(AdminServerTest, RefreshErrorsMapToHttpStatuses) {
  ASSERT_TRUE(StartServing().ok());
  struct Case {
    const char* target;
    int status;
    const char* error;
  };
  const Case cases[] = {
      {"/v1/refresh?path=/demo/missing", 404, "no such file: missing"},
      {"/v1/refresh?path=/nosuch/x", 404, "no export named nosuch"},
      {"/v1/refresh?path=bad", 400, "'bad' is not /EXPORT/PATH"},
      {"/v1/refresh?path=/demo/down", 503, "S3 is down"},
      {"/v1/refresh?path=/demo/broken", 500, "disk on fire"},
      {"/v1/refresh", 400, "missing the parameter path=/EXPORT/PATH"},
      {"/v1/refresh?path=%2", 400, "malformed percent-encoding in the query string"},
      {"/v1/refresh?path=%zz", 400, "malformed percent-encoding in the query string"},
      {"/v1/refresh?path=/a%00b", 400, "the path contains a NUL byte"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.target);
    HttpResult r = Send(path_, http::verb::post, c.target);
    EXPECT_EQ(r.status, c.status);
    EXPECT_EQ(ErrorOf(r.body), c.error);
    EXPECT_EQ(r.content_type, "application/json");
  }
}

TEST_F(AdminServerTest, UnknownPathAndWrongMethod) {
  ASSERT_TRUE(StartServing().ok());
  HttpResult r = Send(path_, http::verb::get, "/v2/nothing");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(ErrorOf(r.body), "no such endpoint: /v2/nothing");

  r = Send(path_, http::verb::get, "/v1/refresh?path=/demo/a");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.allow, "POST");
  EXPECT_EQ(ErrorOf(r.body), "use POST for /v1/refresh");
  EXPECT_TRUE(refreshed().empty());

  r = Send(path_, http::verb::post, "/v1/status");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.allow, "GET");
}

TEST_F(AdminServerTest, OversizedRequestIsRefused) {
  AdminServerOptions options;
  options.max_request_size = 1024;
  ASSERT_TRUE(StartServing(options).ok());
  // Headers over the bound.
  std::string raw =
      "GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(4096, 'a') + "\r\n\r\n";
  std::string reply = SendRaw(path_, raw);
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 413 ")) << reply;
  EXPECT_NE(reply.find(R"({"error":"request larger than 1024 bytes"})"), std::string::npos);
  // A body over the bound.
  raw = "POST /v1/refresh?path=/demo/a HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n" +
        std::string(2000, 'b');
  reply = SendRaw(path_, raw);
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 413 ")) << reply;
  // Headers and body each under the bound, together over it.
  raw = "POST /v1/refresh?path=/demo/a HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(600, 'a') +
        "\r\nContent-Length: 600\r\n\r\n" + std::string(600, 'b');
  reply = SendRaw(path_, raw);
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 413 ")) << reply;
  EXPECT_TRUE(refreshed().empty());
  // The server still answers.
  EXPECT_EQ(Send(path_, http::verb::get, "/v1/status").status, 200);
}

TEST_F(AdminServerTest, DefaultBoundIs64KiB) {
  ASSERT_TRUE(StartServing().ok());
  std::string raw =
      "GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(70 * 1024, 'a') + "\r\n\r\n";
  EXPECT_TRUE(SendRaw(path_, raw).starts_with("HTTP/1.1 413 "));
  raw = "GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(60 * 1024, 'a') + "\r\n\r\n";
  EXPECT_TRUE(SendRaw(path_, raw).starts_with("HTTP/1.1 200 "));
}

TEST_F(AdminServerTest, MalformedRequestGets400) {
  ASSERT_TRUE(StartServing().ok());
  std::string reply = SendRaw(path_, "HELLO\x01 there\r\n\r\n");
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 400 ")) << reply;
  EXPECT_NE(reply.find(R"({"error":"malformed HTTP request)"), std::string::npos);
}

TEST_F(AdminServerTest, IdleConnectionIsClosed) {
  AdminServerOptions options;
  options.idle_timeout = std::chrono::milliseconds(200);
  ASSERT_TRUE(StartServing(options).ok());
  asio::io_context io;
  stream_protocol::socket socket(io);
  socket.connect(stream_protocol::endpoint(path_));
  const auto start = std::chrono::steady_clock::now();
  char byte;
  boost::system::error_code ec;
  asio::read(socket, asio::buffer(&byte, 1), ec);  // blocks until the server closes
  EXPECT_EQ(ec, asio::error::eof);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  // Partially sent requests time out too.
  stream_protocol::socket partial(io);
  partial.connect(stream_protocol::endpoint(path_));
  asio::write(partial, asio::buffer(std::string("GET /v1/status HTTP/1.1\r\n")));
  asio::read(partial, asio::buffer(&byte, 1), ec);
  EXPECT_EQ(ec, asio::error::eof);
}

TEST_F(AdminServerTest, StaleSocketIsReplaced) {
  std::filesystem::create_directories(dir_ + "/sub");
  {
    // A socket file nobody listens on, as a killed gateway leaves behind.
    asio::io_context io;
    stream_protocol::acceptor stale(io, stream_protocol::endpoint(path_));
  }
  ASSERT_TRUE(std::filesystem::exists(path_));
  Status s = StartServing();
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Send(path_, http::verb::get, "/v1/status").status, 200);
}

TEST_F(AdminServerTest, SecondServerOnTheSameSocketFails) {
  ASSERT_TRUE(StartServing().ok());
  asio::io_context other_io;
  AdminServer other(other_io.get_executor(), path_, FakeHandlers());
  Status s = other.Start();
  EXPECT_EQ(s.code(), ErrorCode::kExists);
  EXPECT_EQ(s.message(), "another gateway is already serving admin socket " + path_);
  other.Stop();
  // The first one still serves on its socket file.
  EXPECT_EQ(Send(path_, http::verb::get, "/v1/status").status, 200);
}

TEST_F(AdminServerTest, RefusesToReplaceAFileThatIsNotASocket) {
  std::filesystem::create_directories(dir_ + "/sub");
  std::ofstream(path_) << "precious";
  Status s = StartServing();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("is not a socket"), std::string::npos) << s.message();
  server_.reset();
  std::ifstream in(path_);
  std::string content;
  in >> content;
  EXPECT_EQ(content, "precious");
}

TEST_F(AdminServerTest, TooLongPathIsRefused) {
  path_ = dir_ + "/" + std::string(120, 'x');
  Status s = StartServing();
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.message().find("too long"), std::string::npos);
}

TEST_F(AdminServerTest, ListExports) {
  ASSERT_TRUE(StartServing().ok());
  HttpResult r = Send(path_, http::verb::get, "/v1/exports");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.body, kExportsJson);
}

TEST_F(AdminServerTest, CreateExportPassesTheNormalisedRequest) {
  ASSERT_TRUE(StartServing().ok());
  HttpResult r = Send(path_, http::verb::post, "/v1/exports",
                      R"({"bucket":"my-data","prefix":"/runs/7","endpoint":"http://127.0.0.1:9",)"
                      R"("region":"eu-west-1","read_only":true,"metadata_ttl_seconds":0.5,)"
                      R"("protocol":"nfs"})");
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.body, R"({"created":"my-data"})");
  r = Send(path_, http::verb::post, "/v1/exports", R"({"name":"ckpt","bucket":"other"})");
  EXPECT_EQ(r.status, 201);
  std::lock_guard lock(mu_);
  ASSERT_EQ(created_.size(), 2u);
  const ExportConfig& a = created_[0];
  EXPECT_EQ(a.name, "my-data");  // defaults to the bucket
  EXPECT_EQ(a.bucket, "my-data");
  EXPECT_EQ(a.prefix, "runs/7/");
  EXPECT_EQ(a.endpoint, "http://127.0.0.1:9");
  EXPECT_EQ(a.region, "eu-west-1");
  EXPECT_EQ(a.read_only, std::optional<bool>(true));
  EXPECT_EQ(a.metadata_ttl_seconds, std::optional<double>(0.5));
  const ExportConfig& b = created_[1];
  EXPECT_EQ(b.name, "ckpt");
  EXPECT_EQ(b.prefix, "");
  EXPECT_FALSE(b.read_only.has_value());
  EXPECT_FALSE(b.metadata_ttl_seconds.has_value());
}

TEST_F(AdminServerTest, CreateExportErrors) {
  ASSERT_TRUE(StartServing().ok());
  struct Case {
    const char* body;
    int status;
    const char* error;
  };
  const Case cases[] = {
      {"", 400, "the request body is not JSON: "},
      {"{", 400, "the request body is not JSON: "},
      {"[1]", 400, "the request body must be a JSON object"},
      {R"({"name":"x"})", 400, "the request body names no bucket"},
      {R"({"bucket":"my-data","colour":"red"})", 400, "unknown field 'colour' in the request body"},
      {R"({"bucket":5})", 400, "'bucket' must be a string"},
      {R"({"bucket":"my-data","read_only":1})", 400, "'read_only' must be true or false"},
      {R"({"bucket":"my-data","metadata_ttl_seconds":"5"})", 400,
       "'metadata_ttl_seconds' must be a number"},
      {R"({"bucket":"my-data","metadata_ttl_seconds":-1})", 400,
       "the metadata TTL must be between 0 and 86400 seconds"},
      {R"({"bucket":"my-data","protocol":"smb"})", 400,
       "protocol 'smb' is not supported (bucketfs serves nfs only)"},
      {R"({"bucket":"my data"})", 400, "'my data' is not a valid bucket name"},
      {R"({"bucket":"my-data","name":"a/b"})", 400, "bad export name 'a/b'"},
      {"{\"bucket\":\"my-data\",\"name\":\"a\\u0000b\"}", 400, "'name' contains a NUL byte"},
      {R"({"bucket":"my-data","endpoint":"s3.example"})", 400,
       "endpoint 's3.example' must start with http:// or https://"},
      {R"({"bucket":"dup-bucket"})", 409, "export /x exists"},
      {R"({"bucket":"missing-bucket"})", 404, "bucket 'missing-bucket' absent"},
      {R"({"bucket":"denied-bucket"})", 403, "credentials rejected"},
      {R"({"bucket":"down-bucket"})", 503, "cannot connect"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body);
    HttpResult r = Send(path_, http::verb::post, "/v1/exports", c.body);
    EXPECT_EQ(r.status, c.status);
    EXPECT_TRUE(ErrorOf(r.body).starts_with(c.error)) << r.body;
  }
  std::lock_guard lock(mu_);
  EXPECT_EQ(created_.size(), 4u);  // only the requests that parsed reached the handler
}

TEST_F(AdminServerTest, DeleteExport) {
  ASSERT_TRUE(StartServing().ok());
  HttpResult r = Send(path_, http::verb::delete_, "/v1/exports/my%20data");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"deleted":"my data","force":false})");
  r = Send(path_, http::verb::delete_, "/v1/exports/busy");
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(ErrorOf(r.body), "export /busy has 3 changes not yet uploaded");
  for (const char* force : {"?force=1", "?force", "?force=true", "?x=2&force="}) {
    SCOPED_TRACE(force);
    r = Send(path_, http::verb::delete_, std::string("/v1/exports/busy") + force);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, R"({"deleted":"busy","force":true})");
  }
  r = Send(path_, http::verb::delete_, "/v1/exports/busy?force=0");
  EXPECT_EQ(r.status, 409);
  r = Send(path_, http::verb::delete_, "/v1/exports/busy?force=maybe");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(ErrorOf(r.body), "force must be 1, true, 0 or false");
  r = Send(path_, http::verb::delete_, "/v1/exports/nosuch");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(ErrorOf(r.body), "no export named nosuch");
  r = Send(path_, http::verb::delete_, "/v1/exports/a%zz");
  EXPECT_EQ(r.status, 400);
  std::lock_guard lock(mu_);
  EXPECT_EQ(deleted_.size(), 8u);
  EXPECT_EQ(deleted_[0], (std::pair<std::string, bool>("my data", false)));
}

TEST_F(AdminServerTest, ExportsWrongMethods) {
  ASSERT_TRUE(StartServing().ok());
  HttpResult r = Send(path_, http::verb::put, "/v1/exports", "{}");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.allow, "GET, POST");
  EXPECT_EQ(ErrorOf(r.body), "use GET or POST for /v1/exports");
  r = Send(path_, http::verb::get, "/v1/exports/demo");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.allow, "DELETE");
  r = Send(path_, http::verb::delete_, "/v1/exports/");
  EXPECT_EQ(r.status, 404);
  std::lock_guard lock(mu_);
  EXPECT_TRUE(deleted_.empty());
  EXPECT_TRUE(created_.empty());
}

TEST_F(AdminServerTest, ExportsWithoutHandlersAreUnknown) {
  AdminHandlers h = FakeHandlers();
  h.list_exports = nullptr;
  h.create_export = nullptr;
  h.delete_export = nullptr;
  ASSERT_TRUE(StartServingWith(std::move(h)).ok());
  EXPECT_EQ(Send(path_, http::verb::get, "/v1/exports").status, 404);
  EXPECT_EQ(Send(path_, http::verb::delete_, "/v1/exports/demo").status, 404);
}

TEST(HttpStatusForTest, Codes) {
  EXPECT_EQ(HttpStatusFor(ErrorCode::kNotFound), 404u);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kInvalidArgument), 400u);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kNotDir), 400u);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kUnavailable), 503u);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kIo), 500u);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kInternal), 500u);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kExists), 409u);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kNotEmpty), 409u);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kAuth), 403u);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kAccessDenied), 403u);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kTimeout), 503u);
}

}  // namespace
}  // namespace bucketfs::server
