// CredentialsProvider: where S3Store gets the credentials it signs each request with — cached,
// refreshed ahead of their expiry, found the way AWS tools find them.
//
// The default chain (MakeDefaultCredentialsChain), in order:
//   1. environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY [, AWS_SESSION_TOKEN]
//   2. web identity: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN [+ AWS_ROLE_SESSION_NAME], traded
//      for temporary credentials with STS AssumeRoleWithWebIdentity (unsigned) at
//      AWS_ENDPOINT_URL_STS or https://sts.REGION.amazonaws.com; the token file is re-read at
//      every refresh (Kubernetes rotates it)
//   3. shared files: the profile (the caller's, else AWS_PROFILE, else "default") in
//      AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials) and AWS_CONFIG_FILE (~/.aws/config):
//      static keys, role_arn + web_identity_token_file, or credential_process
//   4. container: AWS_CONTAINER_CREDENTIALS_FULL_URI, or AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
//      under http://169.254.170.2, with AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE or
//      AWS_CONTAINER_AUTHORIZATION_TOKEN as the Authorization header
//   5. instance metadata (IMDSv2) at AWS_EC2_METADATA_SERVICE_ENDPOINT or http://169.254.169.254,
//      unless AWS_EC2_METADATA_DISABLED=true; 1 s timeouts so a machine without one fails fast
// A step that is not configured is skipped; the first one that yields credentials is used from
// then on. A step that is configured but fails (an unreadable token file, STS rejecting the
// token, a named profile that does not exist) stops the chain with its error rather than falling
// through to other credentials. When no step is configured the error lists each step and why.
//
// Refresh: credentials with an expiration are fetched again 5 minutes before it (at half their
// lifetime when that is shorter); concurrent callers share one fetch; a failed refresh keeps the
// old credentials while they are valid and is retried at most every 10 s.
//
// Thread-safety: every CredentialsProvider may be called from any coroutine on any executor; no
// mutex is held across a co_await. Ownership: providers are shared (std::shared_ptr) between the
// stores that sign with them; a provider must outlive every Get() in progress.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/async.h"
#include "base/single_flight.h"
#include "base/status.h"
#include "objstore/credentials.h"
#include "objstore/http_client.h"

namespace bucketfs::objstore {

class CredentialsProvider {
 public:
  virtual ~CredentialsProvider() = default;
  // Credentials valid now: cached, or fetched when the cached ones are about to expire. Errors
  // carry the source's name and cause (kAuth when no source has credentials).
  virtual Awaitable<Result<Credentials>> Get() = 0;
};

// Always the same credentials (tests, and S3Config::credentials).
class StaticCredentialsProvider final : public CredentialsProvider {
 public:
  explicit StaticCredentialsProvider(Credentials credentials)
      : credentials_(std::move(credentials)) {}
  Awaitable<Result<Credentials>> Get() override { co_return credentials_; }

 private:
  const Credentials credentials_;
};

// One place credentials come from. Fetch() gets fresh ones each time it is called (no caching);
// it returns kNotFound exactly when the source is not configured here (the message says why, and
// a chain goes on to the next source), any other error when it is configured but failed.
// Fetch() is not called concurrently by the providers below, but must tolerate it.
class CredentialsSource {
 public:
  virtual ~CredentialsSource() = default;
  virtual Awaitable<Result<Credentials>> Fetch() = 0;
  // For messages: "environment", "web identity", "shared files (profile dev)", ...
  virtual std::string Name() const = 0;
};

using WallClock = std::function<std::chrono::system_clock::time_point()>;

struct RefreshOptions {
  // Fetch again this long before the expiration (or at half the lifetime when shorter).
  std::chrono::seconds refresh_ahead{300};
  // After a failed refresh, the old credentials (still valid) are served this long before the
  // next attempt.
  std::chrono::seconds retry_after{10};
  WallClock now;  // null: std::chrono::system_clock::now
};

// Caches one source's credentials and refreshes them (see the refresh rule above).
class RefreshingProvider final : public CredentialsProvider {
 public:
  RefreshingProvider(std::unique_ptr<CredentialsSource> source, RefreshOptions options);
  Awaitable<Result<Credentials>> Get() override;
  std::string Name() const { return source_->Name(); }
  // How many times the source was fetched (for tests and logs).
  uint64_t fetches() const;

 private:
  std::chrono::system_clock::time_point Now() const;
  // Fresh enough to hand out without a refresh (mu_ held).
  bool UsableLocked(std::chrono::system_clock::time_point now) const;
  Awaitable<Result<Credentials>> Refresh();

  const std::unique_ptr<CredentialsSource> source_;
  const RefreshOptions options_;
  mutable std::mutex mu_;
  std::optional<Credentials> cached_;                     // guarded by mu_
  std::chrono::system_clock::time_point refresh_at_;      // guarded by mu_
  std::chrono::system_clock::time_point next_attempt_{};  // guarded by mu_; after a failure
  uint64_t fetches_ = 0;                                  // guarded by mu_
  SingleFlight<int, Result<Credentials>> flight_;
};

// The first source in order that has credentials, used from then on (see the chain above).
class ChainProvider final : public CredentialsProvider {
 public:
  ChainProvider(std::vector<std::unique_ptr<CredentialsSource>> sources, RefreshOptions options);
  Awaitable<Result<Credentials>> Get() override;
  // Name of the source in use; "" until one yielded credentials.
  std::string Current() const;

 private:
  Awaitable<Result<Credentials>> Resolve();

  std::vector<std::unique_ptr<RefreshingProvider>> steps_;
  mutable std::mutex mu_;
  RefreshingProvider* chosen_ = nullptr;  // guarded by mu_; set once
  SingleFlight<int, Result<Credentials>> flight_;
};

struct ChainOptions {
  asio::any_io_executor executor;  // runs the HTTP requests of the STS/container/IMDS steps
  // The shared-files profile. Empty: AWS_PROFILE, else "default". A profile given here (a
  // per-export profile) also skips the environment and web-identity steps, as AWS SDKs do for an
  // explicitly named profile.
  std::string profile;
  std::string region = "us-east-1";  // for the regional STS endpoint
  // Token files, shared files and credential_process run there; null: inline (tests, startup).
  BlockingPool* pool = nullptr;
  // Environment lookup; null: std::getenv. Read when the chain is built (and HOME for "~").
  std::function<std::string(const std::string&)> getenv;
  RefreshOptions refresh;
  HttpTimeouts sts_timeouts{std::chrono::seconds(3), std::chrono::seconds(10)};
  HttpTimeouts container_timeouts{std::chrono::seconds(1), std::chrono::seconds(5)};
  HttpTimeouts imds_timeouts{std::chrono::seconds(1), std::chrono::seconds(1)};
};

// The sources of the default chain, in order (exposed for tests).
std::vector<std::unique_ptr<CredentialsSource>> MakeDefaultCredentialsSources(
    const ChainOptions& options);
std::shared_ptr<ChainProvider> MakeDefaultCredentialsChain(const ChainOptions& options);

// "scheme://host[:port]/path?query" split into its endpoint and request target ("/" when the
// URL has no path).
Result<std::pair<HttpEndpoint, std::string>> SplitUrl(const std::string& url);

}  // namespace bucketfs::objstore
