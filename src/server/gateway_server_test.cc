// GatewayServer's exports at runtime, through its admin socket: a gateway on the local-directory
// store, an export added with POST /v1/exports, saved in STATE_DIR/exports.json, back after a
// restart; deletes of saved and configured exports; saved exports that cannot be served.
#include "server/gateway_server.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "server/json.h"
#include "server/saved_exports.h"

namespace bucketfs::server {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using asio::local::stream_protocol;

struct HttpResult {
  int status = 0;
  std::string body;
};

HttpResult Send(const std::string& socket, http::verb method, const std::string& target,
                const std::string& body = "") {
  asio::io_context io;
  stream_protocol::socket s(io);
  s.connect(stream_protocol::endpoint(socket));
  http::request<http::string_body> req(method, target, 11);
  req.set(http::field::host, "localhost");
  req.body() = body;
  req.prepare_payload();
  http::write(s, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(s, buffer, res);
  return HttpResult{static_cast<int>(res.result_int()), res.body()};
}

// The member `name` of the "exports" array of `doc`, or nullptr.
const JsonValue* ExportNamed(const JsonValue& doc, const std::string& name) {
  const JsonValue* list = doc.Find("exports");
  if (list == nullptr) return nullptr;
  for (const JsonValue& e : list->items()) {
    if (e.GetString("name") == name) return &e;
  }
  return nullptr;
}

class GatewayExportsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bfs-gateway-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    for (const char* bucket : {"demo", "other", "third"}) {
      std::filesystem::create_directories(dir_ + "/local/" + bucket + "/sub");
      std::ofstream(dir_ + "/local/" + bucket + "/sub/f.txt") << bucket;
    }
  }
  void TearDown() override {
    StopGateway();
    std::filesystem::remove_all(dir_);
  }

  ServeConfig Config() {
    ServeConfig c;
    c.listen_host = "127.0.0.1";
    c.listen_port = 0;
    c.local_dir = dir_ + "/local";
    c.state_dir = dir_ + "/state";
    c.cache_memory_bytes = 64ull << 20;
    c.cache_disk_bytes = 0;
    c.metadata_ttl_seconds = 7;
    c.io_threads = 2;
    c.blocking_threads = 2;
    ExportConfig demo;
    demo.name = demo.bucket = "demo";
    c.exports.push_back(demo);
    return c;
  }

  Status StartGateway(ServeConfig c) {
    gateway_ = std::make_unique<GatewayServer>(std::move(c));
    Status s = gateway_->Start();
    if (s.ok()) runner_ = std::thread([this] { gateway_->Run(); });
    return s;
  }
  void StopGateway() {
    if (!gateway_) return;
    gateway_->Stop();
    if (runner_.joinable()) runner_.join();
    gateway_.reset();
  }

  std::string Socket() const { return dir_ + "/state/admin.sock"; }
  JsonValue Get(const std::string& target) {
    HttpResult r = Send(Socket(), http::verb::get, target);
    EXPECT_EQ(r.status, 200) << r.body;
    auto v = ParseJson(r.body);
    EXPECT_TRUE(v.ok()) << r.body;
    return v.ok() ? *v : JsonValue();
  }
  HttpResult Create(const std::string& body) {
    return Send(Socket(), http::verb::post, "/v1/exports", body);
  }
  std::vector<SavedExport> Saved() {
    auto saved = LoadSavedExports(SavedExportsPath(dir_ + "/state"));
    EXPECT_TRUE(saved.ok()) << saved.status().ToString();
    return saved.ok() ? *saved : std::vector<SavedExport>();
  }
  // Until the saved list has `n` entries (a deleted export's entry goes once it drained).
  bool WaitSaved(std::size_t n) {
    for (int i = 0; i < 200; ++i) {
      if (Saved().size() == n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  std::string dir_;
  std::unique_ptr<GatewayServer> gateway_;
  std::thread runner_;
};

TEST_F(GatewayExportsTest, CreatedExportIsServedSavedAndBackAfterRestart) {
  ASSERT_TRUE(StartGateway(Config()).ok());
  HttpResult r = Create(R"({"bucket":"other","name":"o","prefix":"sub","metadata_ttl_seconds":1.5,)"
                        R"("read_only":true})");
  ASSERT_EQ(r.status, 201) << r.body;
  auto created = ParseJson(r.body);
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(created->GetString("mount"),
            "sudo mount -t nfs4 -o vers=4.1,port=" + std::to_string(gateway_->port()) +
                " 127.0.0.1:/o /mnt/o");
  const JsonValue* e = created->Find("export");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->GetString("bucket"), "other");
  EXPECT_EQ(e->GetString("prefix"), "sub/");
  EXPECT_EQ(e->GetString("created_by"), "cli");
  EXPECT_EQ(e->Find("metadata_ttl_seconds")->number(), 1.5);
  EXPECT_TRUE(e->Find("read_only")->boolean());

  JsonValue list = Get("/v1/exports");
  ASSERT_NE(ExportNamed(list, "demo"), nullptr);
  EXPECT_EQ(ExportNamed(list, "demo")->GetString("created_by"), "config");
  EXPECT_EQ(ExportNamed(list, "demo")->Find("metadata_ttl_seconds")->number(), 7);
  ASSERT_NE(ExportNamed(list, "o"), nullptr);
  EXPECT_EQ(ExportNamed(list, "o")->GetString("state"), "serving");
  ASSERT_NE(list.Find("nfs"), nullptr);
  ASSERT_NE(list.Find("cache"), nullptr);
  EXPECT_EQ(list.Find("cache")->Find("memory_limit_bytes")->number(), 64 << 20);
  EXPECT_NE(ExportNamed(Get("/v1/status"), "o"), nullptr);

  std::vector<SavedExport> saved = Saved();
  ASSERT_EQ(saved.size(), 1u);
  EXPECT_EQ(saved[0].config.name, "o");
  EXPECT_EQ(saved[0].config.prefix, "sub/");
  EXPECT_EQ(saved[0].config.metadata_ttl_seconds, std::optional<double>(1.5));
  EXPECT_EQ(saved[0].config.read_only, std::optional<bool>(true));
  EXPECT_FALSE(saved[0].draining);

  StopGateway();
  ASSERT_TRUE(StartGateway(Config()).ok());
  list = Get("/v1/exports");
  const JsonValue* back = ExportNamed(list, "o");
  ASSERT_NE(back, nullptr) << "the saved export is served again after a restart";
  EXPECT_EQ(back->GetString("created_by"), "cli");
  EXPECT_EQ(back->GetString("state"), "serving");
  EXPECT_EQ(back->Find("metadata_ttl_seconds")->number(), 1.5);
  EXPECT_TRUE(back->Find("read_only")->boolean());
  EXPECT_NE(ExportNamed(list, "demo"), nullptr);
}

TEST_F(GatewayExportsTest, CreateErrors) {
  ASSERT_TRUE(StartGateway(Config()).ok());
  ASSERT_EQ(Create(R"({"bucket":"other"})").status, 201);
  struct Case {
    const char* body;
    int status;
    std::string error;
  };
  const Case cases[] = {
      {R"({"bucket":"third","name":"other"})", 409,
       "export /other already exists (bucket 'other'); choose another --name"},
      {R"({"bucket":"other","name":"demo"})", 409,
       "export /demo already exists (bucket 'demo'); choose another --name"},
      {R"({"bucket":"absent"})", 404,
       "export /absent not created: bucket directory " + dir_ + "/local/absent does not exist"},
      {R"({"bucket":"third","endpoint":"http://127.0.0.1:9"})", 400,
       "this gateway serves the local directory " + dir_ +
           "/local (--local-dir): --endpoint and --region do not apply"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body);
    HttpResult r = Create(c.body);
    EXPECT_EQ(r.status, c.status);
    auto v = ParseJson(r.body);
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v->GetString("error"), c.error);
  }
  EXPECT_EQ(Saved().size(), 1u);  // only the export that was created
}

TEST_F(GatewayExportsTest, DeleteSavedAndConfiguredExports) {
  ASSERT_TRUE(StartGateway(Config()).ok());
  ASSERT_EQ(Create(R"({"bucket":"other"})").status, 201);
  HttpResult r = Send(Socket(), http::verb::delete_, "/v1/exports/other");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find(R"("message":"export /other deleted")"), std::string::npos) << r.body;
  EXPECT_TRUE(WaitSaved(0));
  r = Send(Socket(), http::verb::delete_, "/v1/exports/demo");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("so it comes back at the next start"), std::string::npos) << r.body;
  // Listed as draining until its (here: no) pending uploads are done, then gone.
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    gone = ExportNamed(Get("/v1/exports"), "demo") == nullptr;
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(gone);
  r = Send(Socket(), http::verb::delete_, "/v1/exports/demo");
  EXPECT_EQ(r.status, 404) << r.body;
  // The export can be made again once its uploads (none here) are done.
  for (int i = 0; i < 100 && Create(R"({"bucket":"other"})").status != 201; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_NE(ExportNamed(Get("/v1/exports"), "other"), nullptr);

  StopGateway();
  ASSERT_TRUE(StartGateway(Config()).ok());
  JsonValue list = Get("/v1/exports");
  EXPECT_NE(ExportNamed(list, "demo"), nullptr) << "a configured export comes back";
  EXPECT_NE(ExportNamed(list, "other"), nullptr);
}

TEST_F(GatewayExportsTest, SavedExportsThatCannotBeServedAreKeptAndListed) {
  // Saved by an earlier run: one whose bucket is gone, one a configured export shadows.
  std::filesystem::create_directories(dir_ + "/state");
  SavedExport gone, shadowed;
  gone.config.name = gone.config.bucket = "vanished";
  shadowed.config.name = "demo";
  shadowed.config.bucket = "third";
  ASSERT_TRUE(SaveExports(SavedExportsPath(dir_ + "/state"), {gone, shadowed}).ok());
  Status s = StartGateway(Config());
  ASSERT_TRUE(s.ok()) << s.ToString();
  JsonValue list = Get("/v1/exports");
  const JsonValue* v = ExportNamed(list, "vanished");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->GetString("state"), "inactive");
  const JsonValue* demo = ExportNamed(list, "demo");
  ASSERT_NE(demo, nullptr);
  EXPECT_EQ(demo->GetString("bucket"), "demo") << "the configured export wins";
  EXPECT_EQ(Saved().size(), 2u) << "both stay saved";
  // An inactive one can be deleted.
  HttpResult r = Send(Socket(), http::verb::delete_, "/v1/exports/vanished");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(WaitSaved(1));
}

TEST_F(GatewayExportsTest, DamagedSavedListStopsTheStart) {
  std::filesystem::create_directories(dir_ + "/state");
  std::ofstream(SavedExportsPath(dir_ + "/state")) << "{not json";
  Status s = StartGateway(Config());
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(s.message().starts_with(SavedExportsPath(dir_ + "/state") +
                                      " is not a list of exports bucketfs can read"))
      << s.message();
}

TEST_F(GatewayExportsTest, SavedExportsAloneAreEnough) {
  // A gateway whose configuration names no bucket serves the saved ones.
  std::filesystem::create_directories(dir_ + "/state");
  SavedExport other;
  other.config.name = other.config.bucket = "other";
  ASSERT_TRUE(SaveExports(SavedExportsPath(dir_ + "/state"), {other}).ok());
  ServeConfig c = Config();
  c.exports.clear();
  Status s = StartGateway(c);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_NE(ExportNamed(Get("/v1/exports"), "other"), nullptr);
}

}  // namespace
}  // namespace bucketfs::server
