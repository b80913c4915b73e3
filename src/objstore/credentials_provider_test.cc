// CredentialsProvider: refresh ahead of expiry (fake clock), single flight, failed refreshes, the
// chain's order and messages, and each network source against a small HTTP server of its own on
// 127.0.0.1 (an IMDSv2 responder, a container-credentials responder, an STS stand-in).
#include "objstore/credentials_provider.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "objstore/s3_store.h"
#include "objstore/sigv4.h"

namespace bucketfs::objstore {
namespace {

namespace http = boost::beast::http;
using asio::ip::tcp;
using std::chrono::system_clock;
using namespace std::chrono_literals;

// co_spawn with use_future needs a default-constructible result: Result<T> is not.
template <typename T>
Awaitable<std::optional<T>> AsOptional(Awaitable<T> task) {
  co_return co_await std::move(task);
}

template <typename T>
T RunOn(asio::io_context& io, Awaitable<T> task) {
  auto f = asio::co_spawn(io, AsOptional(std::move(task)), asio::use_future);
  io.restart();
  io.run();
  return *f.get();
}

// ---- A fake source and a fake clock ------------------------------------------------------------

struct FakeClock {
  system_clock::time_point now = system_clock::from_time_t(1714564800);  // 2024-05-01T12:00:00Z
  WallClock fn() {
    return [this] { return now; };
  }
};

// Returns the next scripted result at each fetch (the last one forever), optionally after a delay.
class ScriptedSource final : public CredentialsSource {
 public:
  struct Shared {
    std::vector<Result<Credentials>> script;
    std::atomic<int> fetches{0};
    std::chrono::milliseconds delay{0};
  };
  ScriptedSource(std::string name, std::shared_ptr<Shared> shared)
      : name_(std::move(name)), shared_(std::move(shared)) {}
  Awaitable<Result<Credentials>> Fetch() override {
    const int n = shared_->fetches++;
    if (shared_->delay.count() > 0) {
      asio::steady_timer t(co_await asio::this_coro::executor);
      t.expires_after(shared_->delay);
      co_await t.async_wait(asio::use_awaitable);
    }
    const auto& script = shared_->script;
    co_return script[std::min<std::size_t>(n, script.size() - 1)];
  }
  std::string Name() const override { return name_; }

 private:
  std::string name_;
  std::shared_ptr<Shared> shared_;
};

Credentials Creds(std::string id, std::optional<system_clock::time_point> expiration = {}) {
  return Credentials{id, "secret-" + id, "token-" + id, expiration};
}

class RefreshTest : public ::testing::Test {
 protected:
  std::unique_ptr<RefreshingProvider> Make() {
    RefreshOptions o;
    o.now = clock_.fn();
    return std::make_unique<RefreshingProvider>(std::make_unique<ScriptedSource>("fake", shared_),
                                                o);
  }
  std::string GetId(RefreshingProvider& p) {
    auto r = RunOn(io_, p.Get());
    return r.ok() ? r->access_key_id : "error: " + r.status().message();
  }

  asio::io_context io_;
  FakeClock clock_;
  std::shared_ptr<ScriptedSource::Shared> shared_ = std::make_shared<ScriptedSource::Shared>();
};

TEST_F(RefreshTest, LongTermCredentialsAreFetchedOnce) {
  shared_->script = {Creds("A")};
  auto p = Make();
  EXPECT_EQ(GetId(*p), "A");
  clock_.now += 1000h;
  EXPECT_EQ(GetId(*p), "A");
  EXPECT_EQ(shared_->fetches, 1);
}

TEST_F(RefreshTest, RefreshedFiveMinutesBeforeExpiry) {
  const auto expiry = clock_.now + 1h;
  shared_->script = {Creds("A", expiry), Creds("B", expiry + 1h)};
  auto p = Make();
  EXPECT_EQ(GetId(*p), "A");
  clock_.now = expiry - 5min - 1s;
  EXPECT_EQ(GetId(*p), "A");
  EXPECT_EQ(shared_->fetches, 1);
  clock_.now = expiry - 5min;
  EXPECT_EQ(GetId(*p), "B");
  EXPECT_EQ(GetId(*p), "B");
  EXPECT_EQ(shared_->fetches, 2);
}

TEST_F(RefreshTest, ShortLivedCredentialsRefreshAtHalfTheirLifetime) {
  shared_->script = {Creds("A", clock_.now + 4min), Creds("B", clock_.now + 1h)};
  auto p = Make();
  EXPECT_EQ(GetId(*p), "A");
  clock_.now += 119s;
  EXPECT_EQ(GetId(*p), "A");
  clock_.now += 1s;
  EXPECT_EQ(GetId(*p), "B");
}

TEST_F(RefreshTest, FailedRefreshKeepsValidCredentialsAndRetriesLater) {
  const auto expiry = clock_.now + 1h;
  shared_->script = {Creds("A", expiry), UnavailableError("STS is down"),
                     UnavailableError("STS is down"), Creds("B", expiry + 1h)};
  auto p = Make();
  EXPECT_EQ(GetId(*p), "A");
  clock_.now = expiry - 4min;
  EXPECT_EQ(GetId(*p), "A");  // refresh failed: the old ones, still valid
  EXPECT_EQ(shared_->fetches, 2);
  clock_.now += 9s;
  EXPECT_EQ(GetId(*p), "A");  // no new attempt within retry_after
  EXPECT_EQ(shared_->fetches, 2);
  clock_.now += 1s;
  EXPECT_EQ(GetId(*p), "A");  // second attempt fails too
  EXPECT_EQ(shared_->fetches, 3);
  clock_.now += 10s;
  EXPECT_EQ(GetId(*p), "B");
}

TEST_F(RefreshTest, ExpiredCredentialsAreNotServedWhenTheRefreshFails) {
  const auto expiry = clock_.now + 1h;
  shared_->script = {Creds("A", expiry), UnavailableError("STS is down")};
  auto p = Make();
  EXPECT_EQ(GetId(*p), "A");
  clock_.now = expiry;
  EXPECT_EQ(GetId(*p), "error: STS is down");
}

TEST_F(RefreshTest, AlreadyExpiredCredentialsAreAnError) {
  shared_->script = {Creds("A", clock_.now - 1s)};
  auto p = Make();
  auto r = RunOn(io_, p->Get());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kAuth);
}

Awaitable<std::string> GetIdTask(RefreshingProvider* p) {
  auto r = co_await p->Get();
  co_return r.ok() ? r->access_key_id : r.status().message();
}

TEST_F(RefreshTest, ConcurrentCallersShareOneFetch) {
  shared_->script = {Creds("A", clock_.now + 1h), Creds("B", clock_.now + 2h)};
  shared_->delay = 20ms;
  auto p = Make();
  std::vector<std::future<std::string>> results;
  for (int i = 0; i < 20; ++i) {
    results.push_back(asio::co_spawn(io_, GetIdTask(p.get()), asio::use_future));
  }
  io_.run();
  for (auto& r : results) EXPECT_EQ(r.get(), "A");
  EXPECT_EQ(shared_->fetches, 1);
  // And again at refresh time, from two threads.
  clock_.now += 56min;
  results.clear();
  for (int i = 0; i < 20; ++i) {
    results.push_back(asio::co_spawn(io_, GetIdTask(p.get()), asio::use_future));
  }
  io_.restart();
  std::thread second([this] { io_.run(); });
  io_.run();
  second.join();
  for (auto& r : results) EXPECT_EQ(r.get(), "B");
  EXPECT_EQ(shared_->fetches, 2);
}

// ---- The chain ---------------------------------------------------------------------------------

class ChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("bfs-creds-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ / "home");
    env_["HOME"] = (dir_ / "home").string();
    env_["AWS_EC2_METADATA_DISABLED"] = "true";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    const auto path = dir_ / name;
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path) << text;
    return path.string();
  }

  ChainOptions Options(std::string profile = "") {
    ChainOptions o;
    o.executor = io_.get_executor();
    o.profile = std::move(profile);
    o.getenv = [this](const std::string& name) {
      auto it = env_.find(name);
      return it == env_.end() ? std::string() : it->second;
    };
    o.refresh.now = clock_.fn();
    return o;
  }

  Result<Credentials> Get(ChainProvider& chain) { return RunOn(io_, chain.Get()); }

  asio::io_context io_;
  FakeClock clock_;
  std::filesystem::path dir_;
  std::map<std::string, std::string> env_;
};

TEST_F(ChainTest, NothingConfiguredListsEveryStep) {
  auto chain = MakeDefaultCredentialsChain(Options());
  auto r = Get(*chain);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kAuth);
  const std::string& m = r.status().message();
  EXPECT_EQ(m.rfind("no S3 credentials found (tried environment: AWS_ACCESS_KEY_ID is not set; "
                    "web identity: AWS_WEB_IDENTITY_TOKEN_FILE is not set; shared files (profile "
                    "default): neither ",
                    0),
            0u)
      << m;
  EXPECT_NE(m.find("container endpoint: neither AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
            std::string::npos);
  EXPECT_NE(m.find("instance metadata: AWS_EC2_METADATA_DISABLED is true)"), std::string::npos);
  EXPECT_EQ(chain->Current(), "");
}

TEST_F(ChainTest, EnvironmentComesFirst) {
  env_["AWS_ACCESS_KEY_ID"] = "AKIDENV";
  env_["AWS_SECRET_ACCESS_KEY"] = "envsecret";
  env_["AWS_SESSION_TOKEN"] = "envtoken";
  env_["AWS_WEB_IDENTITY_TOKEN_FILE"] = Write("token", "jwt");
  env_["AWS_ROLE_ARN"] = "arn:aws:iam::1:role/r";
  Write("home/.aws/credentials",
        "[default]\naws_access_key_id=AKIDFILE\naws_secret_access_key=x\n");
  auto chain = MakeDefaultCredentialsChain(Options());
  auto r = Get(*chain);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->access_key_id, "AKIDENV");
  EXPECT_EQ(r->session_token, "envtoken");
  EXPECT_EQ(chain->Current(), "environment");
}

TEST_F(ChainTest, PartialEnvironmentIsAnError) {
  env_["AWS_ACCESS_KEY_ID"] = "AKIDENV";
  Write("home/.aws/credentials",
        "[default]\naws_access_key_id=AKIDFILE\naws_secret_access_key=x\n");
  auto r = Get(*MakeDefaultCredentialsChain(Options()));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "S3 credentials from environment: AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY "
            "is not");
}

TEST_F(ChainTest, SharedFilesWithAwsProfile) {
  Write("home/.aws/credentials",
        "[default]\naws_access_key_id=AKIDDEFAULT\naws_secret_access_key=d\n"
        "[dev]\naws_access_key_id=AKIDDEV\naws_secret_access_key=v\n");
  Write("home/.aws/config", "[profile cfg]\naws_access_key_id=AKIDCFG\naws_secret_access_key=c\n");
  EXPECT_EQ(Get(*MakeDefaultCredentialsChain(Options()))->access_key_id, "AKIDDEFAULT");
  env_["AWS_PROFILE"] = "dev";
  auto chain = MakeDefaultCredentialsChain(Options());
  EXPECT_EQ(Get(*chain)->access_key_id, "AKIDDEV");
  EXPECT_EQ(chain->Current(), "shared files (profile dev)");
  // The caller's profile wins over AWS_PROFILE, and over the environment's keys.
  env_["AWS_ACCESS_KEY_ID"] = "AKIDENV";
  env_["AWS_SECRET_ACCESS_KEY"] = "e";
  EXPECT_EQ(Get(*MakeDefaultCredentialsChain(Options("cfg")))->access_key_id, "AKIDCFG");
}

TEST_F(ChainTest, FilesNamedByTheEnvironment) {
  env_["AWS_SHARED_CREDENTIALS_FILE"] = Write("elsewhere/creds",
                                              "[p]\naws_access_key_id=AKIDP\n"
                                              "aws_secret_access_key=p\n");
  env_["AWS_CONFIG_FILE"] = Write("elsewhere/conf",
                                  "[profile q]\naws_access_key_id=AKIDQ\n"
                                  "aws_secret_access_key=q\n");
  EXPECT_EQ(Get(*MakeDefaultCredentialsChain(Options("p")))->access_key_id, "AKIDP");
  EXPECT_EQ(Get(*MakeDefaultCredentialsChain(Options("q")))->access_key_id, "AKIDQ");
}

TEST_F(ChainTest, NamedProfileThatDoesNotExistStopsTheChain) {
  Write("home/.aws/credentials", "[default]\naws_access_key_id=A\naws_secret_access_key=a\n");
  env_["AWS_PROFILE"] = "typo";
  auto r = Get(*MakeDefaultCredentialsChain(Options()));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("S3 credentials from shared files (profile typo): profile "
                                      "'typo': no profile 'typo' in "),
            std::string::npos)
      << r.status().message();
}

TEST_F(ChainTest, CredentialProcess) {
  Write("home/.aws/config",
        "[default]\ncredential_process = printf "
        "'{\"Version\":1,\"AccessKeyId\":\"AKIDPROC\",\"SecretAccessKey\":\"p\","
        "\"SessionToken\":\"t\",\"Expiration\":\"2024-05-01T13:00:00Z\"}'\n"
        "[profile failing]\ncredential_process = sh -c 'exit 3'\n");
  auto chain = MakeDefaultCredentialsChain(Options());
  auto r = Get(*chain);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->access_key_id, "AKIDPROC");
  EXPECT_EQ(r->session_token, "t");
  EXPECT_TRUE(r->expiration);
  auto failing = Get(*MakeDefaultCredentialsChain(Options("failing")));
  ASSERT_FALSE(failing.ok());
  EXPECT_NE(failing.status().message().find("exited with status 3"), std::string::npos);
}

TEST_F(ChainTest, AssumeRoleWithSourceProfileIsNamedAsUnsupported) {
  Write("home/.aws/config", "[profile a]\nrole_arn=arn:aws:iam::1:role/x\nsource_profile=b\n");
  auto r = Get(*MakeDefaultCredentialsChain(Options("a")));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kNotSupported);
  EXPECT_NE(r.status().message().find("role_arn with source_profile is not supported"),
            std::string::npos);
}

TEST_F(ChainTest, WebIdentityWithoutRoleOrTokenFile) {
  env_["AWS_WEB_IDENTITY_TOKEN_FILE"] = (dir_ / "missing").string();
  auto r = Get(*MakeDefaultCredentialsChain(Options()));
  EXPECT_EQ(r.status().message(),
            "S3 credentials from web identity: AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN "
            "is not");
  env_["AWS_ROLE_ARN"] = "arn:aws:iam::1:role/r";
  env_["AWS_ENDPOINT_URL_STS"] = "http://127.0.0.1:1";
  r = Get(*MakeDefaultCredentialsChain(Options()));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kIo);
  EXPECT_NE(r.status().message().find("S3 credentials from web identity: cannot read " +
                                      (dir_ / "missing").string()),
            std::string::npos)
      << r.status().message();
}

TEST_F(ChainTest, ContainerFullUriMustBeLocalOrHttps) {
  env_["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "http://example.com/creds";
  auto r = Get(*MakeDefaultCredentialsChain(Options()));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("plain http only to loopback"), std::string::npos);
}

TEST(SplitUrlTest, EndpointAndTarget) {
  auto a = SplitUrl("http://169.254.170.2/v2/credentials/abc?x=1");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->first.host, "169.254.170.2");
  EXPECT_EQ(a->first.port, 80);
  EXPECT_EQ(a->second, "/v2/credentials/abc?x=1");
  auto b = SplitUrl("https://[fd00:ec2::23]:8443");
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->first.tls);
  EXPECT_EQ(b->first.host, "fd00:ec2::23");
  EXPECT_EQ(b->first.port, 8443);
  EXPECT_EQ(b->second, "/");
  EXPECT_FALSE(SplitUrl("169.254.170.2/creds").ok());
}

// ---- Network sources against local servers ----------------------------------------------------

struct Request {
  std::string method, target, body;
  std::map<std::string, std::string> headers;  // names lower-cased
};
struct Response {
  unsigned status = 200;
  std::string body;
};

// One request per connection (the replies say Connection: close), answered by `handler` on the
// server's thread. Records every request.
class LocalHttpServer {
 public:
  explicit LocalHttpServer(std::function<Response(const Request&)> handler)
      : handler_(std::move(handler)),
        acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    thread_ = std::thread([this] { Serve(); });
  }
  ~LocalHttpServer() {
    stop_ = true;
    boost::system::error_code ec;
    tcp::socket poke(io_);
    poke.connect(acceptor_.local_endpoint(), ec);
    thread_.join();
  }
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
  }
  std::vector<Request> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  void Serve() {
    while (!stop_) {
      tcp::socket s(io_);
      boost::system::error_code ec;
      acceptor_.accept(s, ec);
      if (ec || stop_) return;
      boost::beast::flat_buffer buf;
      http::request<http::string_body> req;
      http::read(s, buf, req, ec);
      if (ec) continue;
      Request r{std::string(req.method_string()), std::string(req.target()), req.body(), {}};
      for (const auto& f : req) {
        std::string name(f.name_string());
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        r.headers[name] = std::string(f.value());
      }
      {
        std::lock_guard lock(mu_);
        requests_.push_back(r);
      }
      Response answer = handler_(r);
      http::response<http::string_body> res(static_cast<http::status>(answer.status), 11);
      res.keep_alive(false);
      res.body() = answer.body;
      res.prepare_payload();
      http::write(s, res, ec);
      s.shutdown(tcp::socket::shutdown_both, ec);
    }
  }

  std::function<Response(const Request&)> handler_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<Request> requests_;
  std::thread thread_;
};

std::string Iso(system_clock::time_point t) {
  std::time_t tt = system_clock::to_time_t(t);
  std::tm tm;
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string CredentialsJson(const std::string& id, system_clock::time_point expiry) {
  return R"({"Code":"Success","Type":"AWS-HMAC","AccessKeyId":")" + id +
         R"(","SecretAccessKey":"s-)" + id + R"(","Token":"t-)" + id + R"(","Expiration":")" +
         Iso(expiry) + "\"}";
}

// An IMDSv2 responder: a token for a PUT, then the role and its credentials for that token only.
Response Imds(const Request& r, std::atomic<int>* issued, system_clock::time_point expiry) {
  if (r.method == "PUT" && r.target == "/latest/api/token") {
    if (r.headers.count("x-aws-ec2-metadata-token-ttl-seconds") == 0) return {400, ""};
    return {200, "imds-session-" + std::to_string(++*issued)};
  }
  if (r.method != "GET") return {405, ""};
  auto it = r.headers.find("x-aws-ec2-metadata-token");
  if (it == r.headers.end() || it->second != "imds-session-" + std::to_string(issued->load())) {
    return {401, ""};
  }
  if (r.target == "/latest/meta-data/iam/security-credentials/") return {200, "bucketfs-role\n"};
  if (r.target == "/latest/meta-data/iam/security-credentials/bucketfs-role") {
    return {200, CredentialsJson("ASIAIMDS" + std::to_string(issued->load()), expiry)};
  }
  return {404, ""};
}

TEST_F(ChainTest, InstanceMetadataV2) {
  std::atomic<int> issued{0};
  const auto expiry = clock_.now + 6h;
  LocalHttpServer imds([&](const Request& r) { return Imds(r, &issued, expiry); });
  env_.erase("AWS_EC2_METADATA_DISABLED");
  env_["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = imds.url() + "/";
  auto chain = MakeDefaultCredentialsChain(Options());
  auto r = Get(*chain);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->access_key_id, "ASIAIMDS1");
  EXPECT_EQ(r->secret_access_key, "s-ASIAIMDS1");
  EXPECT_EQ(r->session_token, "t-ASIAIMDS1");
  EXPECT_EQ(*r->expiration, expiry);
  EXPECT_EQ(chain->Current(), "instance metadata");
  EXPECT_EQ(imds.requests().size(), 3u);
  // Cached until 5 minutes before the expiry, then fetched again with a new session token.
  clock_.now = expiry - 6min;
  EXPECT_EQ(Get(*chain)->access_key_id, "ASIAIMDS1");
  clock_.now = expiry - 4min;
  EXPECT_EQ(Get(*chain)->access_key_id, "ASIAIMDS2");
  EXPECT_EQ(imds.requests().size(), 6u);
}

TEST_F(ChainTest, InstanceMetadataWithoutRole) {
  LocalHttpServer imds([](const Request& r) -> Response {
    if (r.method == "PUT") return {200, "tok"};
    return {404, ""};
  });
  env_.erase("AWS_EC2_METADATA_DISABLED");
  env_["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = imds.url();
  auto r = Get(*MakeDefaultCredentialsChain(Options()));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kAuth);
  EXPECT_NE(r.status().message().find("instance metadata: no IAM role is attached"),
            std::string::npos)
      << r.status().message();
}

TEST_F(ChainTest, NoInstanceMetadataServiceFailsFast) {
  // A port nobody listens on: refused at once. (A black-holed address is bounded by the 1 s
  // connect timeout.)
  env_.erase("AWS_EC2_METADATA_DISABLED");
  env_["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = "http://127.0.0.1:1";
  const auto start = std::chrono::steady_clock::now();
  auto r = Get(*MakeDefaultCredentialsChain(Options()));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("instance metadata: no instance metadata service at "
                                      "http://127.0.0.1:1"),
            std::string::npos)
      << r.status().message();
}

TEST_F(ChainTest, ContainerEndpointWithAuthorizationTokenFile) {
  const auto expiry = clock_.now + 1h;
  LocalHttpServer container([&](const Request& r) -> Response {
    auto it = r.headers.find("authorization");
    if (r.target != "/v2/credentials/task" || it == r.headers.end() || it->second != "pod-token") {
      return {401, R"({"message":"bad token"})"};
    }
    return {200, CredentialsJson("ASIACONTAINER", expiry)};
  });
  env_["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = container.url() + "/v2/credentials/task";
  env_["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "ignored-when-a-file-is-set";
  env_["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = Write("eks-token", "pod-token\n");
  // Configured: it comes before the instance metadata.
  env_.erase("AWS_EC2_METADATA_DISABLED");
  env_["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = "http://127.0.0.1:1";
  auto chain = MakeDefaultCredentialsChain(Options());
  auto r = Get(*chain);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->access_key_id, "ASIACONTAINER");
  EXPECT_EQ(r->session_token, "t-ASIACONTAINER");
  EXPECT_EQ(*r->expiration, expiry);
  EXPECT_EQ(chain->Current(), "container endpoint");
  // A rejected token is an error of that step.
  Write("eks-token", "stale");
  auto rejected = Get(*MakeDefaultCredentialsChain(Options()));
  ASSERT_FALSE(rejected.ok());
  EXPECT_EQ(rejected.status().code(), ErrorCode::kAuth);
  EXPECT_NE(rejected.status().message().find(
                "S3 credentials from container endpoint: " + container.url() +
                "/v2/credentials/task answered "
                "HTTP 401"),
            std::string::npos)
      << rejected.status().message();
}

std::string FormValue(const std::string& body, const std::string& name) {
  const std::string key = name + "=";
  for (std::size_t pos = 0; pos < body.size();) {
    std::size_t end = body.find('&', pos);
    if (end == std::string::npos) end = body.size();
    if (body.compare(pos, key.size(), key) == 0) {
      return UriDecode(body.substr(pos + key.size(), end - pos - key.size()));
    }
    pos = end + 1;
  }
  return "";
}

// An STS stand-in: AssumeRoleWithWebIdentity succeeds for tokens starting "good", with
// credentials that expire at *expiry.
Response Sts(const Request& r, const std::atomic<system_clock::time_point>* expiry) {
  const std::string token = FormValue(r.body, "WebIdentityToken");
  if (r.method != "POST" || FormValue(r.body, "Action") != "AssumeRoleWithWebIdentity" ||
      r.headers.count("authorization") != 0) {
    return {400, "<ErrorResponse><Error><Code>InvalidAction</Code></Error></ErrorResponse>"};
  }
  if (token.rfind("good", 0) != 0) {
    return {400,
            "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code><Message>"
            "The token is not valid</Message></Error></ErrorResponse>"};
  }
  return {200,
          "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>"
          "<AccessKeyId>ASIA-" +
              token + "</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>st-" +
              FormValue(r.body, "RoleSessionName") + "</SessionToken><Expiration>" +
              Iso(expiry->load()) +
              "</Expiration></Credentials></AssumeRoleWithWebIdentityResult>"
              "</AssumeRoleWithWebIdentityResponse>"};
}

TEST_F(ChainTest, WebIdentityReReadsTheTokenAtEachRefresh) {
  std::atomic<system_clock::time_point> expiry{clock_.now + 1h};
  LocalHttpServer sts([&](const Request& r) { return Sts(r, &expiry); });
  env_["AWS_WEB_IDENTITY_TOKEN_FILE"] = Write("token", "good-1");
  env_["AWS_ROLE_ARN"] = "arn:aws:iam::123456789012:role/bucketfs";
  env_["AWS_ROLE_SESSION_NAME"] = "pod-7";
  env_["AWS_ENDPOINT_URL_STS"] = sts.url();
  auto chain = MakeDefaultCredentialsChain(Options());
  auto r = Get(*chain);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->access_key_id, "ASIA-good-1");
  EXPECT_EQ(r->session_token, "st-pod-7");
  EXPECT_EQ(*r->expiration, expiry.load());
  EXPECT_EQ(chain->Current(), "web identity");
  auto reqs = sts.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(FormValue(reqs[0].body, "RoleArn"), "arn:aws:iam::123456789012:role/bucketfs");
  EXPECT_EQ(reqs[0].headers["content-type"], "application/x-www-form-urlencoded; charset=utf-8");
  // Kubernetes rotated the token; the refresh, 5 minutes before the expiry, sends the new one.
  Write("token", "good-2\n");
  clock_.now = expiry.load() - 4min;
  expiry = clock_.now + 1h;
  EXPECT_EQ(Get(*chain)->access_key_id, "ASIA-good-2");
  EXPECT_EQ(sts.requests().size(), 2u);
  // Then STS refuses the next token: the current credentials stay in use until they expire.
  Write("token", "revoked");
  clock_.now = expiry.load() - 4min;
  EXPECT_EQ(Get(*chain)->access_key_id, "ASIA-good-2");
  EXPECT_EQ(sts.requests().size(), 3u);
  clock_.now = expiry.load();
  auto expired = Get(*chain);
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(expired.status().code(), ErrorCode::kAuth);
  EXPECT_NE(expired.status().message().find("InvalidIdentityToken"), std::string::npos);
}

TEST_F(ChainTest, RejectedWebIdentityTokenNamesTheStep) {
  std::atomic<system_clock::time_point> expiry{clock_.now + 1h};
  LocalHttpServer sts([&](const Request& r) { return Sts(r, &expiry); });
  env_["AWS_WEB_IDENTITY_TOKEN_FILE"] = Write("token", "forged");
  env_["AWS_ROLE_ARN"] = "arn:aws:iam::1:role/r";
  env_["AWS_ENDPOINT_URL_STS"] = sts.url();
  // Configured web identity that fails does not fall through to the shared files.
  Write("home/.aws/credentials", "[default]\naws_access_key_id=A\naws_secret_access_key=a\n");
  auto r = Get(*MakeDefaultCredentialsChain(Options()));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kAuth);
  EXPECT_EQ(r.status().message(),
            "S3 credentials from web identity: STS AssumeRoleWithWebIdentity at " + sts.url() +
                " for role arn:aws:iam::1:role/r (token file " + (dir_ / "token").string() +
                ") was refused: InvalidIdentityToken: The token is not valid");
}

TEST_F(ChainTest, WebIdentityFromAConfigProfile) {
  std::atomic<system_clock::time_point> expiry{clock_.now + 1h};
  LocalHttpServer sts([&](const Request& r) { return Sts(r, &expiry); });
  const std::string token = Write("token", "good-profile");
  Write("home/.aws/config",
        "[profile k8s]\nrole_arn = arn:aws:iam::1:role/r\n"
        "web_identity_token_file = " +
            token + "\nrole_session_name = from-config\n");
  env_["AWS_ENDPOINT_URL_STS"] = sts.url();
  auto chain = MakeDefaultCredentialsChain(Options("k8s"));
  auto r = Get(*chain);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->access_key_id, "ASIA-good-profile");
  EXPECT_EQ(r->session_token, "st-from-config");
  EXPECT_EQ(chain->Current(), "shared files (profile k8s)");
}

// ---- S3Store signs with the provider's current credentials -------------------------------------

TEST_F(ChainTest, S3StoreSignsEachRequestWithTheCurrentCredentials) {
  const auto expiry = clock_.now + 1h;
  std::atomic<int> issued{0};
  LocalHttpServer imds([&](const Request& r) { return Imds(r, &issued, expiry); });
  LocalHttpServer s3([](const Request&) { return Response{200, ""}; });
  env_.erase("AWS_EC2_METADATA_DISABLED");
  env_["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = imds.url();
  S3Config config;
  config.endpoint = s3.url();
  config.bucket = "b";
  config.credentials_provider = MakeDefaultCredentialsChain(Options());
  auto store = S3Store::Create(io_.get_executor(), config);
  ASSERT_TRUE(store.ok());
  EXPECT_TRUE(RunOn(io_, (*store)->CheckBucket()).ok());
  clock_.now = expiry - 1min;
  EXPECT_TRUE(RunOn(io_, (*store)->CheckBucket()).ok());
  auto reqs = s3.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_NE(reqs[0].headers["authorization"].find("Credential=ASIAIMDS1/"), std::string::npos);
  EXPECT_EQ(reqs[0].headers["x-amz-security-token"], "t-ASIAIMDS1");
  EXPECT_NE(reqs[1].headers["authorization"].find("Credential=ASIAIMDS2/"), std::string::npos);
  EXPECT_EQ(reqs[1].headers["x-amz-security-token"], "t-ASIAIMDS2");
}

TEST(S3StoreCredentialsTest, NoCredentialsFailsTheRequestWithTheProvidersMessage) {
  asio::io_context io;
  S3Config config;
  config.endpoint = "http://127.0.0.1:1";
  config.bucket = "b";
  ChainOptions o;
  o.executor = io.get_executor();
  o.getenv = [](const std::string& name) {
    return name == "AWS_EC2_METADATA_DISABLED" ? std::string("true") : std::string();
  };
  config.credentials_provider = MakeDefaultCredentialsChain(o);
  auto store = S3Store::Create(io.get_executor(), config);
  ASSERT_TRUE(store.ok());
  Status s = RunOn(io, (*store)->CheckBucket());
  EXPECT_EQ(s.code(), ErrorCode::kAuth);
  EXPECT_EQ(s.message().rfind("no S3 credentials found", 0), 0u) << s.message();
}

}  // namespace
}  // namespace bucketfs::objstore
