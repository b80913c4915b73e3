#include "objstore/credentials_provider.h"

#include <sys/wait.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "base/log.h"
#include "objstore/sigv4.h"

namespace bucketfs::objstore {
namespace {

using Env = std::function<std::string(const std::string&)>;
using std::chrono::system_clock;

constexpr std::size_t kMaxFileBytes = 1 << 20;  // token and shared files, process output

std::string StdGetenv(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  return v ? v : "";
}

std::string Trim(std::string s) {
  const char* ws = " \t\r\n";
  s.erase(0, s.find_first_not_of(ws));
  s.erase(s.find_last_not_of(ws) + 1);
  return s;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// "~/x" → "$HOME/x".
std::string ExpandHome(const std::string& path, const std::string& home) {
  if (path == "~" || path.rfind("~/", 0) == 0) return home + path.substr(1);
  return path;
}

// The first 200 bytes of a reply body, on one line, for an error message.
std::string Snippet(const std::string& body) {
  std::string s = Trim(body.substr(0, 200));
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return s;
}

std::string HostHeader(const HttpEndpoint& ep) {
  std::string h = ep.host.find(':') != std::string::npos ? "[" + ep.host + "]" : ep.host;
  if (ep.port != (ep.tls ? 443 : 80)) h += ":" + std::to_string(ep.port);
  return h;
}

std::string UrlOf(const HttpEndpoint& ep) {
  return std::string(ep.tls ? "https://" : "http://") + HostHeader(ep);
}

bool Transient(const Status& s) {
  return s.code() == ErrorCode::kUnavailable || s.code() == ErrorCode::kTimeout;
}

Awaitable<void> Sleep(std::chrono::milliseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(d);
  co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
}

// kNotFound when the file does not exist, kIo for other failures.
Result<std::string> ReadFileNow(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    const int err = errno;
    const std::string msg = "cannot read " + path + ": " + std::strerror(err);
    return err == ENOENT ? NotFoundError(msg) : IoError(msg);
  }
  std::string text(kMaxFileBytes + 1, '\0');
  f.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (f.bad()) return IoError("cannot read " + path);
  text.resize(static_cast<std::size_t>(f.gcount()));
  if (text.size() > kMaxFileBytes) return IoError(path + " is larger than 1 MiB");
  return text;
}

// Reads a small file on `pool` (inline without one), so that no I/O thread waits on the disk.
Awaitable<Result<std::string>> ReadSmallFile(BlockingPool* pool, std::string path) {
  if (!pool) co_return ReadFileNow(path);
  auto read = [path] { return ReadFileNow(path); };
  co_return co_await RunBlocking(*pool, read);
}

// A token file: it must exist and hold something. Never kNotFound (the source is configured).
Awaitable<Result<std::string>> ReadToken(BlockingPool* pool, std::string path) {
  auto text = co_await ReadSmallFile(pool, path);
  if (!text.ok()) co_return IoError(text.status().message());
  std::string token = Trim(std::move(text).value());
  if (token.empty()) co_return Status(ErrorCode::kAuth, "token file " + path + " is empty");
  co_return token;
}

Result<std::string> RunProcessNow(const std::string& command) {
  FILE* p = popen(command.c_str(), "r");
  if (!p) return IoError("cannot run credential_process: " + std::string(std::strerror(errno)));
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0 && out.size() <= kMaxFileBytes) {
    out.append(buf, n);
  }
  const int rc = pclose(p);
  if (rc != 0) {
    const int code = rc > 0 && WIFEXITED(rc) ? WEXITSTATUS(rc) : rc;
    return Status(ErrorCode::kAuth, "credential_process '" + command + "' exited with status " +
                                        std::to_string(code));
  }
  return out;
}

// ---- Sources ---------------------------------------------------------------------------------

// Always the same answer: credentials from the environment, "not configured" (kNotFound), or a
// configuration error found when the chain was built.
class FixedSource final : public CredentialsSource {
 public:
  FixedSource(std::string name, Result<Credentials> result)
      : name_(std::move(name)), result_(std::move(result)) {}
  Awaitable<Result<Credentials>> Fetch() override { co_return result_; }
  std::string Name() const override { return name_; }

 private:
  const std::string name_;
  const Result<Credentials> result_;
};

std::unique_ptr<CredentialsSource> NotConfigured(std::string name, std::string why) {
  return std::make_unique<FixedSource>(std::move(name), NotFoundError(std::move(why)));
}

std::unique_ptr<CredentialsSource> EnvSource(const Env& env) {
  Credentials c{env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"), env("AWS_SESSION_TOKEN")};
  Result<Credentials> r = std::move(c);
  if (r->access_key_id.empty() && r->secret_access_key.empty()) {
    r = NotFoundError("AWS_ACCESS_KEY_ID is not set");
  } else if (r->access_key_id.empty() || r->secret_access_key.empty()) {
    r = InvalidArgumentError(r->access_key_id.empty()
                                 ? "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not"
                                 : "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
  }
  return std::make_unique<FixedSource>("environment", std::move(r));
}

// STS AssumeRoleWithWebIdentity with the token in a file, re-read at every fetch.
class WebIdentitySource final : public CredentialsSource {
 public:
  struct Config {
    std::string token_file;
    std::string role_arn;
    std::string session_name;  // empty: bucketfs-UNIXTIME
    HttpEndpoint sts;
    BlockingPool* pool = nullptr;
    HttpTimeouts timeouts;
    std::string name = "web identity";
  };
  WebIdentitySource(asio::any_io_executor executor, Config config)
      : config_(std::move(config)),
        http_(std::make_unique<HttpClient>(std::move(executor), config_.sts, config_.timeouts)) {}

  std::string Name() const override { return config_.name; }

  Awaitable<Result<Credentials>> Fetch() override {
    const std::string sts_url = UrlOf(config_.sts);
    auto token = co_await ReadToken(config_.pool, config_.token_file);
    if (!token.ok()) co_return token.status();
    std::string session = config_.session_name;
    if (session.empty()) {
      session = "bucketfs-" + std::to_string(system_clock::to_time_t(system_clock::now()));
    }
    HttpRequest req;
    req.method = "POST";
    req.target = "/";
    req.headers = {{"host", HostHeader(config_.sts)},
                   {"content-type", "application/x-www-form-urlencoded; charset=utf-8"},
                   {"accept", "application/xml"}};
    req.body = "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=" +
               UriEncode(config_.role_arn, false) +
               "&RoleSessionName=" + UriEncode(session, false) +
               "&WebIdentityToken=" + UriEncode(*token, false);
    const std::string what = "STS AssumeRoleWithWebIdentity at " + sts_url + " for role " +
                             config_.role_arn + " (token file " + config_.token_file + ")";
    Status last;
    for (int attempt = 0; attempt < 3; ++attempt) {
      if (attempt > 0) co_await Sleep(std::chrono::milliseconds(200 << attempt));
      auto r = co_await http_->Send(req);
      if (!r.ok()) {
        last = r.status();
        if (Transient(last)) continue;
        co_return last.WithContext(what);
      }
      if (r->status == 200) {
        auto c = ParseStsCredentials(r->body);
        if (!c.ok()) co_return c.status().WithContext(what);
        co_return c;
      }
      auto err = ParseStsCredentials(r->body);
      const std::string detail = err.ok() || err.status().code() != ErrorCode::kAuth
                                     ? "HTTP " + std::to_string(r->status) + " " + Snippet(r->body)
                                     : err.status().message();
      if (r->status >= 500 || detail.rfind("IDPCommunicationError", 0) == 0 ||
          detail.rfind("Throttling", 0) == 0) {
        last = UnavailableError(detail);
        continue;
      }
      co_return Status(ErrorCode::kAuth, what + " was refused: " + detail);
    }
    co_return UnavailableError(what + " failed: " + last.message());
  }

 private:
  const Config config_;
  const std::unique_ptr<HttpClient> http_;
};

HttpEndpoint StsEndpointFor(const Env& env, const std::string& region, Status* error) {
  std::string url = env("AWS_ENDPOINT_URL_STS");
  if (url.empty()) {
    url = "https://sts." + region + ".amazonaws.com" + (region.rfind("cn-", 0) == 0 ? ".cn" : "");
  }
  auto ep = ParseEndpoint(url);
  if (!ep.ok()) {
    *error = ep.status().WithContext("AWS_ENDPOINT_URL_STS");
    return {};
  }
  return *ep;
}

struct SharedContext {
  asio::any_io_executor executor;
  std::string region;
  BlockingPool* pool;
  HttpTimeouts sts_timeouts;
  Env env;
  std::string home;
};

// A profile of ~/.aws/credentials and ~/.aws/config, read at the first fetch (and at each
// refresh of credentials that expire).
class SharedFilesSource final : public CredentialsSource {
 public:
  SharedFilesSource(SharedContext ctx, std::string profile, bool explicit_profile)
      : ctx_(std::move(ctx)), profile_(std::move(profile)), explicit_(explicit_profile) {
    credentials_path_ = ctx_.env("AWS_SHARED_CREDENTIALS_FILE");
    if (credentials_path_.empty()) credentials_path_ = "~/.aws/credentials";
    credentials_path_ = ExpandHome(credentials_path_, ctx_.home);
    config_path_ = ctx_.env("AWS_CONFIG_FILE");
    if (config_path_.empty()) config_path_ = "~/.aws/config";
    config_path_ = ExpandHome(config_path_, ctx_.home);
  }

  std::string Name() const override { return "shared files (profile " + profile_ + ")"; }

  Awaitable<Result<Credentials>> Fetch() override {
    auto credentials_text = co_await ReadSmallFile(ctx_.pool, credentials_path_);
    auto config_text = co_await ReadSmallFile(ctx_.pool, config_path_);
    for (const auto* r : {&credentials_text, &config_text}) {
      if (!r->ok() && r->status().code() != ErrorCode::kNotFound) co_return r->status();
    }
    const std::string files = credentials_path_ + " or " + config_path_;
    auto missing = [&](std::string why) -> Status {
      if (explicit_) return InvalidArgumentError("profile '" + profile_ + "': " + why);
      return NotFoundError(std::move(why));
    };
    if (!credentials_text.ok() && !config_text.ok()) {
      co_return missing("neither " + credentials_path_ + " nor " + config_path_ + " exists");
    }
    auto profile =
        FindSharedProfile(ParseIni(credentials_text.ok() ? *credentials_text : std::string()),
                          ParseIni(config_text.ok() ? *config_text : std::string()), profile_);
    if (!profile.ok()) co_return missing("no profile '" + profile_ + "' in " + files);
    const SharedProfile& p = *profile;
    const std::string where = "profile '" + profile_ + "' in " + files;
    if (!p.credentials.access_key_id.empty() || !p.credentials.secret_access_key.empty()) {
      if (p.credentials.access_key_id.empty() || p.credentials.secret_access_key.empty()) {
        co_return InvalidArgumentError(where +
                                       ": aws_access_key_id needs aws_secret_access_key too");
      }
      co_return p.credentials;
    }
    if (!p.role_arn.empty() && !p.web_identity_token_file.empty()) {
      auto delegate = WebIdentityFor(p);
      if (!delegate.ok()) co_return delegate.status();
      co_return co_await (*delegate)->Fetch();
    }
    if (!p.role_arn.empty()) {
      co_return NotSupportedError(
          where + ": role_arn with " +
          (p.source_profile.empty() ? "credential_source" : "source_profile") +
          " is not supported (role_arn works with web_identity_token_file)");
    }
    if (!p.credential_process.empty()) {
      auto out = co_await RunProcess(p.credential_process);
      if (!out.ok()) co_return out.status().WithContext(where);
      auto c = ParseCredentialsJson(*out);
      if (!c.ok()) co_return c.status().WithContext(where + ": credential_process output");
      co_return c;
    }
    co_return NotFoundError(where + " has no credentials");
  }

 private:
  Awaitable<Result<std::string>> RunProcess(std::string command) {
    if (!ctx_.pool) co_return RunProcessNow(command);
    auto run = [command] { return RunProcessNow(command); };
    co_return co_await RunBlocking(*ctx_.pool, run);
  }

  // The web-identity source for the profile's settings; made once, again if they change.
  Result<std::shared_ptr<CredentialsSource>> WebIdentityFor(const SharedProfile& p) {
    std::lock_guard lock(mu_);
    const std::string key =
        p.role_arn + '\n' + p.web_identity_token_file + '\n' + p.role_session_name;
    if (web_identity_ && web_identity_key_ == key) return web_identity_;
    Status error;
    HttpEndpoint sts = StsEndpointFor(ctx_.env, ctx_.region, &error);
    if (!error.ok()) return error;
    WebIdentitySource::Config c;
    c.token_file = ExpandHome(p.web_identity_token_file, ctx_.home);
    c.role_arn = p.role_arn;
    c.session_name = p.role_session_name;
    c.sts = sts;
    c.pool = ctx_.pool;
    c.timeouts = ctx_.sts_timeouts;
    c.name = Name() + " web identity";
    web_identity_ = std::make_shared<WebIdentitySource>(ctx_.executor, std::move(c));
    web_identity_key_ = key;
    return web_identity_;
  }

  const SharedContext ctx_;
  const std::string profile_;
  const bool explicit_;
  std::string credentials_path_, config_path_;
  std::mutex mu_;
  std::shared_ptr<CredentialsSource> web_identity_;  // guarded by mu_
  std::string web_identity_key_;                     // guarded by mu_
};

// The ECS/EKS container credentials endpoint.
class ContainerSource final : public CredentialsSource {
 public:
  ContainerSource(asio::any_io_executor executor, HttpEndpoint endpoint, std::string target,
                  std::string auth_token, std::string auth_token_file, BlockingPool* pool,
                  HttpTimeouts timeouts)
      : endpoint_(std::move(endpoint)),
        target_(std::move(target)),
        auth_token_(std::move(auth_token)),
        auth_token_file_(std::move(auth_token_file)),
        pool_(pool),
        http_(std::make_unique<HttpClient>(std::move(executor), endpoint_, timeouts)) {}

  std::string Name() const override { return "container endpoint"; }

  Awaitable<Result<Credentials>> Fetch() override {
    const std::string url = UrlOf(endpoint_) + target_;
    HttpRequest req;
    req.target = target_;
    req.headers = {{"host", HostHeader(endpoint_)}, {"accept", "application/json"}};
    std::string auth = auth_token_;
    if (!auth_token_file_.empty()) {
      auto token = co_await ReadToken(pool_, auth_token_file_);
      if (!token.ok()) {
        co_return token.status().WithContext("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
      }
      auth = std::move(token).value();
    }
    if (!auth.empty()) req.headers.emplace_back("authorization", auth);
    Status last;
    for (int attempt = 0; attempt < 3; ++attempt) {
      if (attempt > 0) co_await Sleep(std::chrono::milliseconds(100 << attempt));
      auto r = co_await http_->Send(req);
      if (!r.ok()) {
        last = r.status();
        if (Transient(last)) continue;
        break;
      }
      if (r->status == 200) {
        auto c = ParseCredentialsJson(r->body);
        if (!c.ok()) co_return c.status().WithContext(url);
        co_return c;
      }
      const std::string detail =
          url + " answered HTTP " + std::to_string(r->status) + " " + Snippet(r->body);
      if (r->status >= 500) {
        last = UnavailableError(detail);
        continue;
      }
      co_return Status(ErrorCode::kAuth, detail);
    }
    co_return Status(last.code(), url + ": " + last.message());
  }

 private:
  const HttpEndpoint endpoint_;
  const std::string target_;
  const std::string auth_token_;
  const std::string auth_token_file_;
  BlockingPool* const pool_;
  const std::unique_ptr<HttpClient> http_;
};

// EC2 instance metadata, IMDSv2: a session token, then the role's credentials.
class ImdsSource final : public CredentialsSource {
 public:
  ImdsSource(asio::any_io_executor executor, HttpEndpoint endpoint, HttpTimeouts timeouts)
      : endpoint_(std::move(endpoint)),
        http_(std::make_unique<HttpClient>(std::move(executor), endpoint_, timeouts)) {}

  std::string Name() const override { return "instance metadata"; }

  Awaitable<Result<Credentials>> Fetch() override {
    const std::string url = UrlOf(endpoint_);
    HttpRequest put;
    put.method = "PUT";
    put.target = "/latest/api/token";
    put.headers = {{"host", HostHeader(endpoint_)},
                   {"x-aws-ec2-metadata-token-ttl-seconds", "21600"}};
    auto token = co_await http_->Send(put);
    if (!token.ok()) {
      co_return NotFoundError("no instance metadata service at " + url + " (" +
                              token.status().message() + ")");
    }
    if (token->status != 200 || Trim(token->body).empty()) {
      co_return NotFoundError("the instance metadata service at " + url +
                              " gave no IMDSv2 token (HTTP " + std::to_string(token->status) + ")");
    }
    const std::string session = Trim(token->body);
    const std::string base = "/latest/meta-data/iam/security-credentials/";
    auto roles = co_await GetWithToken(base, session);
    if (!roles.ok()) co_return roles.status();
    if (roles->status == 404) {
      co_return NotFoundError("no IAM role is attached to this instance (" + url + base + ")");
    }
    if (roles->status != 200) co_return Unexpected(url + base, *roles);
    std::string role = Trim(roles->body.substr(0, roles->body.find('\n')));
    if (role.empty()) {
      co_return NotFoundError("no IAM role is attached to this instance (" + url + base + ")");
    }
    auto creds = co_await GetWithToken(base + role, session);
    if (!creds.ok()) co_return creds.status();
    if (creds->status != 200) co_return Unexpected(url + base + role, *creds);
    auto c = ParseCredentialsJson(creds->body);
    if (!c.ok()) co_return c.status().WithContext(url + base + role);
    co_return c;
  }

 private:
  Awaitable<Result<HttpResponse>> GetWithToken(std::string target, std::string token) {
    HttpRequest get;
    get.target = std::move(target);
    get.headers = {{"host", HostHeader(endpoint_)}, {"x-aws-ec2-metadata-token", token}};
    Status last;
    for (int attempt = 0; attempt < 2; ++attempt) {
      auto r = co_await http_->Send(get);
      if (r.ok()) co_return r;
      last = r.status();
      if (!Transient(last)) break;
    }
    co_return Status(last.code(), UrlOf(endpoint_) + get.target + ": " + last.message());
  }

  static Status Unexpected(const std::string& url, const HttpResponse& r) {
    return UnavailableError(url + " answered HTTP " + std::to_string(r.status) + " " +
                            Snippet(r.body));
  }

  const HttpEndpoint endpoint_;
  const std::unique_ptr<HttpClient> http_;
};

// Plain http is allowed to the container endpoint only on loopback and the ECS/EKS link-local
// addresses (as AWS SDKs require).
bool AllowedContainerHost(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1" ||
         host == "169.254.170.2" || host == "169.254.170.23" || host == "fd00:ec2::23";
}

std::unique_ptr<CredentialsSource> ContainerSourceFor(const ChainOptions& o, const Env& env) {
  const std::string relative = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
  const std::string full = env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
  const char* name = "container endpoint";
  if (relative.empty() && full.empty()) {
    return NotConfigured(name,
                         "neither AWS_CONTAINER_CREDENTIALS_RELATIVE_URI nor "
                         "AWS_CONTAINER_CREDENTIALS_FULL_URI is set");
  }
  const std::string url =
      relative.empty() ? full
                       : "http://169.254.170.2" + (relative[0] == '/' ? relative : "/" + relative);
  const char* var = !relative.empty() ? "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"
                                      : "AWS_CONTAINER_CREDENTIALS_FULL_URI";
  auto split = SplitUrl(url);
  if (!split.ok()) {
    return std::make_unique<FixedSource>(name, split.status().WithContext(var));
  }
  auto [endpoint, target] = std::move(split).value();
  if (!endpoint.tls && !AllowedContainerHost(endpoint.host)) {
    return std::make_unique<FixedSource>(
        name, InvalidArgumentError(std::string(var) + " " + url +
                                   ": plain http only to loopback, 169.254.170.2 or "
                                   "169.254.170.23; use https"));
  }
  return std::make_unique<ContainerSource>(
      o.executor, std::move(endpoint), std::move(target), env("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
      env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"), o.pool, o.container_timeouts);
}

std::unique_ptr<CredentialsSource> ImdsSourceFor(const ChainOptions& o, const Env& env) {
  const char* name = "instance metadata";
  if (Lower(env("AWS_EC2_METADATA_DISABLED")) == "true") {
    return NotConfigured(name, "AWS_EC2_METADATA_DISABLED is true");
  }
  std::string url = env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
  if (url.empty()) {
    url = Lower(env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE")) == "ipv6" ? "http://[fd00:ec2::254]"
                                                                         : "http://169.254.169.254";
  }
  auto ep = ParseEndpoint(url);
  if (!ep.ok()) {
    return std::make_unique<FixedSource>(
        name, ep.status().WithContext("AWS_EC2_METADATA_SERVICE_ENDPOINT"));
  }
  return std::make_unique<ImdsSource>(o.executor, *ep, o.imds_timeouts);
}

}  // namespace

// ---- SplitUrl --------------------------------------------------------------------------------

Result<std::pair<HttpEndpoint, std::string>> SplitUrl(const std::string& url) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) {
    return InvalidArgumentError("'" + url + "' is not an http:// or https:// URL");
  }
  auto path = url.find_first_of("/?#", scheme + 3);
  std::string target = path == std::string::npos ? "/" : url.substr(path);
  if (target[0] != '/') target = "/" + target;
  if (auto hash = target.find('#'); hash != std::string::npos) target.resize(hash);
  BFS_ASSIGN_OR_RETURN(HttpEndpoint ep, ParseEndpoint(url.substr(0, path)));
  return std::make_pair(std::move(ep), std::move(target));
}

// ---- RefreshingProvider ----------------------------------------------------------------------

RefreshingProvider::RefreshingProvider(std::unique_ptr<CredentialsSource> source,
                                       RefreshOptions options)
    : source_(std::move(source)), options_(std::move(options)) {}

system_clock::time_point RefreshingProvider::Now() const {
  return options_.now ? options_.now() : system_clock::now();
}

uint64_t RefreshingProvider::fetches() const {
  std::lock_guard lock(mu_);
  return fetches_;
}

bool RefreshingProvider::UsableLocked(system_clock::time_point now) const {
  if (!cached_) return false;
  if (!cached_->expiration || now < refresh_at_) return true;
  // Within the refresh window after a failed refresh: the old ones until the next attempt.
  return now < next_attempt_ && now < *cached_->expiration;
}

Awaitable<Result<Credentials>> RefreshingProvider::Get() {
  std::optional<Credentials> hit;
  {
    std::lock_guard lock(mu_);
    if (UsableLocked(Now())) hit = cached_;
  }
  if (hit) co_return std::move(*hit);
  auto refresh = [this] { return Refresh(); };
  co_return co_await flight_.Run(0, refresh);
}

Awaitable<Result<Credentials>> RefreshingProvider::Refresh() {
  {
    // A flight that just ended may have refreshed them.
    std::lock_guard lock(mu_);
    if (UsableLocked(Now())) co_return *cached_;
  }
  Result<Credentials> fetched = co_await source_->Fetch();
  std::optional<Credentials> old;
  Status failure;
  {
    std::lock_guard lock(mu_);
    ++fetches_;
    const auto now = Now();
    if (fetched.ok() && fetched->expiration && *fetched->expiration <= now) {
      fetched = Status(ErrorCode::kAuth, "the credentials it gave expired already");
    }
    if (fetched.ok()) {
      cached_ = *fetched;
      next_attempt_ = {};
      if (fetched->expiration) {
        const auto lifetime = *fetched->expiration - now;
        const auto ahead = std::min<system_clock::duration>(options_.refresh_ahead, lifetime / 2);
        refresh_at_ = *fetched->expiration - ahead;
      }
      co_return fetched;
    }
    if (!cached_ || !cached_->expiration || now >= *cached_->expiration) co_return fetched;
    next_attempt_ = now + options_.retry_after;
    old = cached_;
    failure = fetched.status();
  }
  BFS_LOG_WARN("credentials from {}: refresh failed ({}); the current ones stay in use while valid",
               source_->Name(), failure.ToString());
  co_return std::move(*old);
}

// ---- ChainProvider ---------------------------------------------------------------------------

ChainProvider::ChainProvider(std::vector<std::unique_ptr<CredentialsSource>> sources,
                             RefreshOptions options) {
  for (auto& s : sources)
    steps_.push_back(std::make_unique<RefreshingProvider>(std::move(s), options));
}

std::string ChainProvider::Current() const {
  std::lock_guard lock(mu_);
  return chosen_ ? chosen_->Name() : "";
}

namespace {

Status InChain(const std::string& name, const Status& s) {
  // Once a source was in use, "not configured" means it went away: transient for the caller.
  const ErrorCode code = s.code() == ErrorCode::kNotFound ? ErrorCode::kUnavailable : s.code();
  return Status(code, "S3 credentials from " + name + ": " + s.message());
}

}  // namespace

Awaitable<Result<Credentials>> ChainProvider::Get() {
  RefreshingProvider* chosen;
  {
    std::lock_guard lock(mu_);
    chosen = chosen_;
  }
  if (chosen) {
    auto r = co_await chosen->Get();
    if (!r.ok()) co_return InChain(chosen->Name(), r.status());
    co_return r;
  }
  auto resolve = [this] { return Resolve(); };
  co_return co_await flight_.Run(0, resolve);
}

Awaitable<Result<Credentials>> ChainProvider::Resolve() {
  std::string tried;
  for (const auto& step : steps_) {
    auto r = co_await step->Get();
    if (r.ok()) {
      bool first = false;
      {
        std::lock_guard lock(mu_);
        first = chosen_ == nullptr;
        if (first) chosen_ = step.get();
      }
      if (first) BFS_LOG_DEBUG("S3 credentials from {}", step->Name());
      co_return r;
    }
    if (r.status().code() != ErrorCode::kNotFound) co_return InChain(step->Name(), r.status());
    tried += (tried.empty() ? "" : "; ") + step->Name() + ": " + r.status().message();
  }
  co_return Status(ErrorCode::kAuth, "no S3 credentials found (tried " + tried + ")");
}

// ---- The default chain -----------------------------------------------------------------------

std::vector<std::unique_ptr<CredentialsSource>> MakeDefaultCredentialsSources(
    const ChainOptions& o) {
  const Env env = o.getenv ? o.getenv : Env(StdGetenv);
  const bool explicit_profile = !o.profile.empty();
  std::string profile = o.profile;
  if (profile.empty()) profile = env("AWS_PROFILE");
  const bool named = !profile.empty();
  if (profile.empty()) profile = "default";
  const std::string home = env("HOME");
  std::vector<std::unique_ptr<CredentialsSource>> sources;

  // 1. Environment.
  if (explicit_profile) {
    sources.push_back(NotConfigured("environment", "skipped for profile " + profile));
  } else {
    sources.push_back(EnvSource(env));
  }

  // 2. Web identity from the environment.
  const std::string token_file = env("AWS_WEB_IDENTITY_TOKEN_FILE");
  const std::string role_arn = env("AWS_ROLE_ARN");
  if (explicit_profile) {
    sources.push_back(NotConfigured("web identity", "skipped for profile " + profile));
  } else if (token_file.empty()) {
    sources.push_back(NotConfigured("web identity", "AWS_WEB_IDENTITY_TOKEN_FILE is not set"));
  } else if (role_arn.empty()) {
    sources.push_back(std::make_unique<FixedSource>(
        "web identity",
        InvalidArgumentError("AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not")));
  } else {
    Status error;
    HttpEndpoint sts = StsEndpointFor(env, o.region, &error);
    if (!error.ok()) {
      sources.push_back(std::make_unique<FixedSource>("web identity", error));
    } else {
      WebIdentitySource::Config c;
      c.token_file = ExpandHome(token_file, home);
      c.role_arn = role_arn;
      c.session_name = env("AWS_ROLE_SESSION_NAME");
      c.sts = sts;
      c.pool = o.pool;
      c.timeouts = o.sts_timeouts;
      sources.push_back(std::make_unique<WebIdentitySource>(o.executor, std::move(c)));
    }
  }

  // 3. Shared files.
  sources.push_back(std::make_unique<SharedFilesSource>(
      SharedContext{o.executor, o.region, o.pool, o.sts_timeouts, env, home}, profile, named));

  // 4. Container endpoint; 5. instance metadata.
  sources.push_back(ContainerSourceFor(o, env));
  sources.push_back(ImdsSourceFor(o, env));
  return sources;
}

std::shared_ptr<ChainProvider> MakeDefaultCredentialsChain(const ChainOptions& options) {
  return std::make_shared<ChainProvider>(MakeDefaultCredentialsSources(options), options.refresh);
}

}  // namespace bucketfs::objstore
