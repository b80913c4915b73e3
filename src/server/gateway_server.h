// GatewayServer: the composition root. Builds every layer from a ServeConfig — object stores,
// gateway file systems, the export table, the NFSv4 server, the RPC listener, the local admin
// endpoint — runs them on an io_context with a pool of I/O threads plus a BlockingPool for disk
// work, and stops them.
//
// Exports are those of the ServeConfig plus those added at runtime with CreateExport() (`bucketfs
// mount create`), which are saved in STATE_DIR/exports.json (server/saved_exports.h) and added
// again at every start. DeleteExport() removes either kind from the export table; a deleted
// export's pending uploads go on in the background until done (resumed at the next start for a
// saved export, which stays in the file marked draining until then).
//
// Signals: SIGTERM/SIGINT stop it gracefully (Shutdown(): no new calls, the calls in flight
// answered, staged writes made durable; a second one stops at once); SIGHUP reloads the config
// file through the source SetConfigSource() gave (Reload()). The health check of the metrics
// endpoint's /healthz says "starting" until Start() succeeded and "shutting down" from the
// first SIGTERM.
//
// Ownership: GatewayServer owns everything it builds. Thread-safety: Start() and Run() are called
// from the main thread; Stop() from any thread or a signal handler context via asio signals;
// Refresh(), StatusJson(), ExportsJson(), CreateExport() and DeleteExport() from any thread once
// Start() succeeded (the coroutines on the gateway's io_context).
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/async.h"
#include "base/status.h"
#include "cache/block_cache.h"
#include "server/config.h"
#include "server/json.h"
#include "server/metrics_server.h"
#include "server/saved_exports.h"
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

// Who asked for an export: the gateway's configuration (serve --bucket, the config file), or
// `bucketfs mount create` at runtime (then saved in STATE_DIR/exports.json).
enum class ExportOrigin { kConfig, kCli };

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

  // Where a reload reads the configuration from (cli/main.cc: --config with the command-line
  // flags over it). Called on the blocking pool. Unset: SIGHUP only logs that there is nothing to
  // reload. Before Start().
  void SetConfigSource(std::function<Result<ServeConfig>()> source);
  // SIGHUP (docs/configuration.md, "Reload"): reads the configuration again and applies what can
  // change live — the log level, the metadata TTLs, exports added to or removed from it (one
  // with changes not yet uploaded stays, and the log says why) — and logs one warning per other
  // changed key, which needs a restart. A configuration that does not load is logged as an error
  // and changes nothing. One reload at a time (on the io_context).
  Awaitable<void> Reload();
  // What /healthz says: OK while serving, else why not ("starting", "shutting down").
  Status Health() const;

  uint16_t port() const;
  const ServeConfig& config() const { return config_; }

  // Forces revalidation of `path`, "/EXPORT" or "/EXPORT/rel/path", against the object store
  // (see ObjectFileSystem::Refresh). kNotFound for an unknown export or a missing path,
  // kInvalidArgument for a path that is not of that form.
  Awaitable<Status> Refresh(std::string path);
  // The admin endpoint's GET /v1/status document: version, listen address, exports, uptime.
  std::string StatusJson() const;

  // Adds an export to the running gateway (POST /v1/exports): builds its object store (the
  // export's endpoint and region, else the gateway's), checks the bucket, starts its file system
  // as Start() does, saves it in STATE_DIR/exports.json when `origin` is kCli, and puts it in the
  // export table (NFS clients see /NAME at once). Fails with kExists for a name or export id in
  // use (also by a deleted export still uploading), kInvalidArgument for settings that do not
  // apply (an endpoint with --local-dir), else the bucket check's error (kNotFound, kAuth,
  // kUnavailable, ...). The reply document: {"export":{...as in ExportsJson},"mount":"sudo ..."}.
  Awaitable<Result<std::string>> CreateExport(ExportConfig e,
                                              ExportOrigin origin = ExportOrigin::kCli);
  // Removes export `name` from the table (DELETE /v1/exports/NAME). Refuses with kNotEmpty (the
  // counts in the message) while it has changes not yet uploaded, unless `force`; its uploads
  // then go on in the background until done. A configured export comes back at the next start
  // (the reply says so). The reply document: {"deleted","created_by","pending_changes",
  // "staged_bytes","message"}. `by`: who asks, `mount delete` (kCli) or a config reload that no
  // longer lists the export (kConfig; the message and log say so).
  Awaitable<Result<std::string>> DeleteExport(std::string name, bool force,
                                              ExportOrigin by = ExportOrigin::kCli);
  // The GET /v1/exports document: every export (served or draining after a delete) with its
  // settings and write-path backlog, the NFS clients and sessions, the block cache's use.
  std::string ExportsJson() const;
  // `sudo mount -t nfs4 -o vers=4.1[,port=P] HOST:/NAME /mnt/NAME` for this gateway.
  std::string MountCommand(const std::string& name) const;

 private:
  Result<std::shared_ptr<objstore::ObjectStore>> MakeStore(const ExportConfig& e);
  // The S3 credentials chain for a shared-files profile ("": AWS_PROFILE or "default"), made
  // once per distinct profile and shared by every store that uses it.
  std::shared_ptr<objstore::CredentialsProvider> CredentialsFor(const std::string& profile);
  Status CheckBuckets(const std::vector<std::shared_ptr<objstore::ObjectStore>>& stores);
  // Each store's CheckBucket(), run on io_ before its threads run (startup only).
  std::vector<Status> CheckStores(
      const std::vector<std::shared_ptr<objstore::ObjectStore>>& stores);
  // The file system of export `e` on `store`, as every export gets it: its namespace opened in
  // the metadata store (on the blocking pool), its write path started (staged data and pending S3
  // changes of earlier runs taken up again).
  Awaitable<Result<std::shared_ptr<gateway::ObjectFileSystem>>> OpenFileSystem(
      ExportConfig e, std::shared_ptr<objstore::ObjectStore> store);
  // OpenFileSystem, then export it (draining: run it, for its pending uploads, without exporting
  // it). Used by Start().
  Awaitable<Status> StartExport(ExportConfig e, ExportOrigin origin, bool draining,
                                std::shared_ptr<objstore::ObjectStore> store);
  // The export's settings as they apply (the gateway's where it has none).
  std::string EndpointOf(const ExportConfig& e) const;
  std::string RegionOf(const ExportConfig& e) const;
  bool ReadOnlyOf(const ExportConfig& e) const;
  double MetadataTtlOf(const ExportConfig& e) const;
  // Writes STATE_DIR/exports.json from the current exports (on the blocking pool); a save that
  // finds a newer one already written is skipped.
  Awaitable<Status> SaveExportList();
  // A deleted export's uploads, until done; then drops it (and its saved entry).
  Awaitable<void> DrainDeleted(std::string name, std::shared_ptr<gateway::ObjectFileSystem> fs);
  // Start(): the saved exports, after the configured ones (see dormant_ for those not served).
  void StartSavedExports(std::vector<SavedExport> saved);
  // kExists when `name`, or its export id, is served, being created or draining.
  Status CheckNameFreeLocked(const std::string& name) const;
  // One export of the ExportsJson/CreateExport documents; `state`: serving, draining, inactive.
  void WriteExport(JsonWriter& w, const ExportConfig& e, ExportOrigin origin,
                   const gateway::ObjectFileSystem* fs, std::string_view state) const;
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
  // SIGTERM/SIGINT: stop accepting, finish the calls in flight, persist staged writes, stop.
  Awaitable<void> Shutdown();
  // Waits for the next signal (re-armed after each).
  void WaitForSignal();
  // Reload() once per SIGHUP received, one after the other.
  Awaitable<void> RunReloads();
  // Reload(): the exports of the configuration (`applied_.exports` → `next`).
  Awaitable<int> ReloadExports(const std::vector<ExportConfig>& next);
  // Every export without a TTL of its own takes the gateway's (metadata_ttl_seconds_).
  void ApplyMetadataTtls();

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
  struct LiveExport {
    ExportConfig config;
    ExportOrigin origin = ExportOrigin::kConfig;
    std::shared_ptr<gateway::ObjectFileSystem> fs;  // null while being created
    bool saving = false;  // being created, already in the list being saved
  };
  // Guards the members from here to saved_seq_; never held across a co_await.
  mutable std::mutex exports_mu_;
  // Export name → the export served under it (Refresh, admin, metrics, shutdown).
  std::map<std::string, LiveExport> filesystems_;
  // Deleted exports whose pending uploads are not done yet.
  std::map<std::string, LiveExport> draining_;
  // Names being created (reserved before the first co_await of CreateExport).
  std::map<std::string, LiveExport> creating_;
  // Saved exports not served this run (their bucket check failed at start, or a configured
  // export has their name): kept in the file as they are.
  std::vector<SavedExport> dormant_;
  uint64_t saved_seq_ = 0;    // bumped with every change to what SaveExportList writes
  std::mutex save_mu_;        // serialises writes of exports.json (blocking pool)
  uint64_t written_seq_ = 0;  // guarded by save_mu_
  std::mutex store_mu_;       // MakeStore after Start() (CredentialsFor fills credentials_)
  std::chrono::steady_clock::time_point started_;
  std::shared_ptr<nfs::NfsServer> nfs_;
  std::unique_ptr<rpc::Server> rpc_;
  std::unique_ptr<AdminServer> admin_;
  std::unique_ptr<asio::signal_set> signals_;
  std::vector<std::thread> threads_;

  enum class Phase { kStarting, kServing, kStopping };
  std::atomic<Phase> phase_{Phase::kStarting};
  // The gateway's metadata TTL in force (config_'s until a reload changes it).
  std::atomic<double> metadata_ttl_seconds_;
  std::function<Result<ServeConfig>()> config_source_;  // set before Start(), then read-only
  // The configuration as applied by Start() and the reloads since; only Start() and Reload()
  // (one at a time) touch it.
  ServeConfig applied_;
  std::atomic<int> reloads_requested_{0};  // SIGHUPs not yet handled by RunReloads
  // Held from Run() until Stop(): the I/O loop never ends for want of pending work.
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::atomic<bool> stop_requested_{false};
};

}  // namespace bucketfs::server
