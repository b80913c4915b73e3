#include "nfs/nfs_server.h"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "nfs/callback.h"
#include "nfs/nfs4_program.h"
#include "nfs/ops_state.h"
#include "nfs/state.h"

namespace bucketfs::nfs {

NfsServer::NfsServer(asio::any_io_executor ex, vfs::ExportTable& exports, NfsOptions options)
    : ex_(std::move(ex)),
      exports_(exports),
      options_(options),
      pseudo_(exports),
      state_(std::make_shared<StateManager>(
          std::chrono::seconds(options_.lease_seconds),
          StateLimits{.max_request_size = options_.max_write + 64 * 1024,
                      .max_response_size = options_.max_read + 64 * 1024,
                      .max_response_size_cached = 64 * 1024,
                      .max_operations = options_.max_ops,
                      .max_slots = 64})),
      callbacks_(std::make_shared<CallbackService>(
          ex_, state_, [key = options_.handle_key](const FileHandle& fh) { return key.Encode(fh); },
          std::chrono::milliseconds(options_.callback_timeout_ms))),
      program_(std::make_shared<Nfs4Program>(*this)) {
  const uint32_t grace = options_.grace_seconds ? options_.grace_seconds : options_.lease_seconds;
  state_->BeginGrace(options_.previous_clients, std::chrono::seconds(grace));
  options_.previous_clients.clear();
}

NfsServer::~NfsServer() { Stop(); }

std::shared_ptr<rpc::Program> NfsServer::program() { return program_; }

void NfsServer::Start() {
  std::lock_guard lock(reaper_mu_);
  if (reaper_) return;
  reaper_ = std::make_shared<asio::steady_timer>(ex_);
  ArmReaper(reaper_);
}

void NfsServer::Stop() {
  std::lock_guard lock(reaper_mu_);
  if (!reaper_) return;
  reaper_->cancel();  // the pending wait completes with operation_aborted and touches nothing
  reaper_.reset();
}

void NfsServer::ArmReaper(std::shared_ptr<asio::steady_timer> timer) {
  // Expired leases are found at a tenth of the lease period (at least once a second), so a
  // client's state is dropped at most ~10% after its lease ran out (RFC 8881 §8.3); delegated
  // files are checked against the bucket every delegation_check_seconds.
  const auto period = std::min<std::chrono::milliseconds>(
      std::chrono::milliseconds(std::max<uint32_t>(options_.lease_seconds, 10) * 100),
      std::chrono::seconds(std::max<uint32_t>(options_.delegation_check_seconds, 1)));
  timer->expires_after(period);
  timer->async_wait([this, timer](const boost::system::error_code& ec) {
    if (ec) return;
    ReapExpiredState(*this);
    callbacks_->Prune();
    const auto now = std::chrono::steady_clock::now();
    if (now - last_delegation_check_ >= std::chrono::seconds(options_.delegation_check_seconds) &&
        state_->has_delegations() && !checking_delegations_.exchange(true)) {
      last_delegation_check_ = now;
      asio::co_spawn(ex_, CheckDelegatedFiles(*this), asio::detached);
    }
    std::lock_guard lock(reaper_mu_);
    if (reaper_ == timer) ArmReaper(timer);
  });
}

Awaitable<void> NfsServer::CheckDelegatedFiles(NfsServer& server) {
  std::vector<Recall> recalls;
  for (const auto& [fh, bucket_version] : server.state_->DelegatedFiles()) {
    auto exp = server.exports_.FindById(fh.export_id);
    if (!exp) continue;
    // GetAttr revalidates against the bucket once the metadata TTL ran out (a HEAD). Only a
    // change made behind the gateway counts: the gateway's own writes and uploads (by the holder
    // itself, or by others whose operations already recalled it) move the change attribute too.
    auto attr = co_await exp->fs->GetAttr(fh.ino);
    if (attr.ok() && attr->bucket_version == bucket_version && attr->generation == fh.generation) {
      continue;
    }
    server.state_->BreakDelegations(fh, /*breaker=*/0, &recalls, /*external=*/true);
  }
  if (!recalls.empty()) server.callbacks_->Recall(std::move(recalls));
  server.checking_delegations_ = false;
}

}  // namespace bucketfs::nfs
