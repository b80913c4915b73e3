// GatewayServer: the composition root. Builds every layer from a ServeConfig — object stores,
// gateway file systems, the export table, the NFSv4 server, the RPC listener, the local admin
// endpoint — runs them on an io_context with a pool of I/O threads plus a BlockingPool for disk
// work, and stops them.
//
// Ownership: GatewayServer owns everything it builds. Thread-safety: Start() and Run() are called
// from the main thread; Stop() from any thread or a signal handler context via asio signals;
// Refresh() and StatusJson() from any thread once Start() succeeded.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/async.h"
#include "base/status.h"
#include "cache/block_cache.h"
#include "server/config.h"
#include "server/metrics_server.h"
#include "server/state_dir.h"
#include "vfs/exports.h"

namespace bucketfs::objstore {
class ChainProvider;
class CredentialsProvider;
class ObjectStore;
}  // namespace bucketfs::objstore
namespace bucketfs::meta {
class AsyncMetaStore;
}
namespace bucketfs::gateway {
class ObjectFileSystem;
}
namespace bucketfs::nfs {
class NfsServer;
}
namespace bucketfs::rpc {
class Server;
}

namespace bucketfs::server {

class AdminServer;

class GatewayServer {
 public:
  explicit GatewayServer(ServeConfig config);
  ~GatewayServer();
  GatewayServer(const GatewayServer&) = delete;
  GatewayServer& operator=(const GatewayServer&) = delete;

  // Builds the stores and checks every bucket (reachable, exists, credentials accepted), then
  // binds the listener. Any failure comes back as one Status with the cause; nothing is left
  // running.
  Status Start();
  // Serves until Stop() or SIGINT/SIGTERM. Returns after every thread has finished.
  void Run();
  void Stop();

  uint16_t port() const;
  const ServeConfig& config() const { return config_; }

  // Forces revalidation of `path`, "/EXPORT" or "/EXPORT/rel/path", against the object store
  // (see ObjectFileSystem::Refresh). kNotFound for an unknown export or a missing path,
  // kInvalidArgument for a path that is not of that form.
  Awaitable<Status> Refresh(std::string path);
  // The admin endpoint's GET /v1/status document: version, listen address, exports, uptime.
  std::string StatusJson() const;

 private:
  Result<std::shared_ptr<objstore::ObjectStore>> MakeStore(const ExportConfig& e);
  // The S3 credentials chain for a shared-files profile ("": AWS_PROFILE or "default"), made
  // once per distinct profile and shared by every store that uses it.
  std::shared_ptr<objstore::CredentialsProvider> CredentialsFor(const std::string& profile);
  Status CheckBuckets(const std::vector<std::shared_ptr<objstore::ObjectStore>>& stores);
  // Locks the state directory and opens the metadata store in it.
  Status OpenState();
  Status OpenCache();
  // Cache statistics as metrics, read at scrape time.
  void RegisterCacheMetrics();
  // Write-path statistics of every export, read at scrape time.
  void RegisterWriteMetrics();
  void RegisterStateMetrics();
  Status StartMetrics();
  // Runs `task` on a private io_context until it finishes (startup only).
  static Status RunToCompletion(Awaitable<Status> task);
  // SIGTERM/SIGINT: stop accepting, persist staged writes, stop.
  Awaitable<void> Shutdown();

  ServeConfig config_;
  asio::io_context io_;
  BlockingPool blocking_;
  uint64_t write_verifier_;  // NFS writeverf: this run's start time
  std::unique_ptr<StateDir> state_dir_;
  // Profile → credentials chain (after blocking_ and io_: their file reads and requests run there).
  std::map<std::string, std::shared_ptr<objstore::ChainProvider>> credentials_;
  std::shared_ptr<meta::AsyncMetaStore> meta_;  // after blocking_: its reads run there
  std::shared_ptr<cache::BlockCache> cache_;    // after blocking_: its disk I/O runs there
  std::unique_ptr<MetricsServer> metrics_;
  vfs::ExportTable exports_;
  // Export name → its file system, for Refresh(); filled by Start(), read-only afterwards.
  std::map<std::string, std::shared_ptr<gateway::ObjectFileSystem>> filesystems_;
  std::chrono::steady_clock::time_point started_;
  std::shared_ptr<nfs::NfsServer> nfs_;
  std::unique_ptr<rpc::Server> rpc_;
  std::unique_ptr<AdminServer> admin_;
  std::unique_ptr<asio::signal_set> signals_;
  std::vector<std::thread> threads_;
};

}  // namespace bucketfs::server
