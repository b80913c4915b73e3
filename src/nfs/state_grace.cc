// StateManager: restart recovery — the grace period and the client records that decide who may
// reclaim (RFC 7530 §9.6.2, RFC 8881 §8.4.2, §18.51).
#include <algorithm>

#include "nfs/state.h"

namespace bucketfs::nfs {

void StateManager::BeginGrace(const std::vector<Bytes>& owners, std::chrono::seconds duration) {
  std::lock_guard lock(mu_);
  recorded_.insert(owners.begin(), owners.end());
  if (owners.empty() || duration.count() <= 0) return;
  grace_active_ = true;
  grace_end_ = Now() + duration;
  reclaim_pending_ = std::set<Bytes>(owners.begin(), owners.end());
  reclaim_known_ = reclaim_pending_;
}

bool StateManager::InGrace() const {
  std::lock_guard lock(mu_);
  return InGraceLocked();
}

bool StateManager::InGraceLocked() const {
  return grace_active_ && Now() < grace_end_ && !reclaim_pending_.empty();
}

Stat StateManager::ReclaimAllowed(const Client& c) const {
  if (!InGraceLocked() || c.reclaim_complete) return Stat::kNoGrace;
  if (!reclaim_known_.contains(c.owner)) return Stat::kReclaimBad;
  return Stat::kOk;
}

Stat StateManager::CheckGrace(uint32_t minor, const Client& c, ClaimType claim) const {
  // Grace (RFC 8881 §8.4.2.1): only reclaims then, and reclaims only then, by previous clients.
  if (claim == ClaimType::kPrevious) return ReclaimAllowed(c);
  if (InGraceLocked()) return Stat::kGrace;
  // A 4.1 client takes new state only after its RECLAIM_COMPLETE (RFC 8881 §18.51.3).
  if (minor >= 1 && !c.reclaim_complete) return Stat::kGrace;
  return Stat::kOk;
}

void StateManager::EndGraceIfOver() {
  if (!grace_active_ || InGraceLocked()) return;
  grace_active_ = false;
  for (const Bytes& owner : reclaim_known_) {
    const bool back = std::any_of(clients_.begin(), clients_.end(), [&](const auto& kv) {
      return kv.second.confirmed && kv.second.owner == owner;
    });
    if (!back) Unrecord(owner);
  }
  reclaim_pending_.clear();
  reclaim_known_.clear();
}

void StateManager::Unrecord(const Bytes& owner) {
  const bool in_use = std::any_of(clients_.begin(), clients_.end(),
                                  [&](const auto& kv) { return kv.second.owner == owner; });
  if (in_use || recorded_.erase(owner) == 0) return;
  unrecord_.push_back(owner);
}

std::optional<Bytes> StateManager::TakeOwnerToRecord(uint64_t clientid) {
  std::lock_guard lock(mu_);
  Client* c = FindClient(clientid);
  if (!c || !c->confirmed || !recorded_.insert(c->owner).second) return std::nullopt;
  return c->owner;
}

void StateManager::RecordFailed(const Bytes& owner) {
  std::lock_guard lock(mu_);
  recorded_.erase(owner);
}

std::vector<Bytes> StateManager::TakeOwnersToUnrecord() {
  std::lock_guard lock(mu_);
  EndGraceIfOver();
  return std::exchange(unrecord_, {});
}

}  // namespace bucketfs::nfs
