// NfsServer: the NFSv4 server object. Holds the export table (borrowed from the composition
// root), the pseudo filesystem view, the NFSv4 state (StateManager: clients, sessions, opens,
// leases), the options, and a lease-reaper timer; it creates the Nfs4Program that the RPC server
// dispatches to.
//
// Wiring (composition root):
//   auto nfs = std::make_shared<nfs::NfsServer>(ex, exports, opts);
//   rpc_server.AddProgram(nfs->program());
//   nfs->Start();   ...   nfs->Stop();
// The ExportTable must outlive the NfsServer, and the NfsServer must outlive every call into its
// program (destroy the rpc::Server first).
//
// Thread-safety: all public methods are thread-safe; Start/Stop are called once each.
#pragma once

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "base/async.h"
#include "nfs/attrs.h"
#include "nfs/filehandle.h"
#include "nfs/pseudo_fs.h"
#include "rpc/program.h"
#include "vfs/exports.h"

namespace bucketfs::nfs {

class CallbackService;  // callback.h
class ClientRecords;    // client_records.h
class StateManager;     // state.h
class Nfs4Program;      // nfs4_program.h

struct NfsOptions {
  uint32_t lease_seconds = 90;
  // Restart recovery: where client records are kept (null: nowhere, no reclaim after a restart),
  // the owners the previous instance recorded, and the grace period in which they may reclaim
  // (0: one lease period).
  std::shared_ptr<ClientRecords> client_records;
  std::vector<Bytes> previous_clients;
  uint32_t grace_seconds = 0;
  uint32_t max_read = 1 << 20;   // maxread attribute and READ clamp
  uint32_t max_write = 1 << 20;  // maxwrite attribute
  uint32_t max_ops = 128;        // hard bound on operations per COMPOUND
  uint32_t max_readdir_entries = 1024;
  // Read delegations for 4.1 clients with a back channel (nfs/callback.h); how long a CB_RECALL
  // may wait for its reply; how often delegated files are checked against the bucket (a change
  // made there recalls the delegation).
  bool delegations = true;
  uint32_t callback_timeout_ms = 5000;
  uint32_t delegation_check_seconds = 10;
  // Authenticates file handles (nfs/filehandle.h); the server passes the gateway's persistent key.
  HandleKey handle_key;
};

class NfsServer {
 public:
  NfsServer(asio::any_io_executor ex, vfs::ExportTable& exports, NfsOptions options);
  ~NfsServer();
  NfsServer(const NfsServer&) = delete;
  NfsServer& operator=(const NfsServer&) = delete;

  // The program to register with rpc::Server (program 100003, version 4).
  std::shared_ptr<rpc::Program> program();
  // Starts the lease reaper. Stop cancels it; both idempotent.
  void Start();
  void Stop();

  vfs::ExportTable& exports() { return exports_; }
  const PseudoFs& pseudo() const { return pseudo_; }
  StateManager& state() { return *state_; }
  CallbackService& callbacks() { return *callbacks_; }
  const std::shared_ptr<ClientRecords>& client_records() const { return options_.client_records; }
  const asio::any_io_executor& executor() const { return ex_; }
  const NfsOptions& options() const { return options_; }

 private:
  void ArmReaper(std::shared_ptr<asio::steady_timer> timer);
  // Every delegation_check_seconds: recalls the delegations of files whose change attribute
  // moved since the grant (the object changed in the bucket behind the gateway), pinning the
  // holder's view of the change attribute until it returns them (StateManager::PinnedChange).
  static Awaitable<void> CheckDelegatedFiles(NfsServer& server);

  asio::any_io_executor ex_;
  vfs::ExportTable& exports_;
  NfsOptions options_;
  PseudoFs pseudo_;
  std::shared_ptr<StateManager> state_;
  std::shared_ptr<CallbackService> callbacks_;
  std::atomic<bool> checking_delegations_{false};
  std::chrono::steady_clock::time_point last_delegation_check_{};  // reaper thread only
  std::shared_ptr<Nfs4Program> program_;
  std::mutex reaper_mu_;
  std::shared_ptr<asio::steady_timer> reaper_;  // guarded by reaper_mu_
};

}  // namespace bucketfs::nfs
