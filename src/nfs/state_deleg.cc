// StateManager: read delegations (RFC 8881 §10.2, §10.4): grant, conflict (recall), return,
// revocation, and the back channel a recall travels on.
#include <cstring>

#include "nfs/state.h"

namespace bucketfs::nfs {
namespace {

using Other = std::array<uint8_t, kNfs4OtherSize>;

Other KeyOf(const StateId& id) {
  Other k;
  std::memcpy(k.data(), id.other, k.size());
  return k;
}

}  // namespace

std::optional<StateId> StateManager::GrantReadDelegation(uint32_t minor, uint64_t clientid,
                                                         const FileHandle& file, uint64_t change,
                                                         uint64_t bucket_version) {
  std::lock_guard lock(mu_);
  if (InGraceLocked() || delegs_.size() >= limits_.max_delegations) return std::nullopt;
  const Client* c = FindClient(clientid);
  if (c == nullptr || !c->confirmed) return std::nullopt;
  // A recall needs a path to travel on: a 4.1 back channel, or a probed 4.0 callback address.
  const bool reachable = minor >= 1 ? std::any_of(sessions_.begin(), sessions_.end(),
                                                  [&](const auto& kv) {
                                                    return kv.second->clientid == clientid &&
                                                           kv.second->cb.usable &&
                                                           !kv.second->back_connections.empty();
                                                  })
                                    : c->cb40.up;
  if (!reachable) return std::nullopt;
  // Nobody may have the file open for writing, and it must not be delegated to this client
  // already or be in recall.
  for (const auto& [k, o] : opens_) {
    if (o.file == file && (o.access & kShareAccessWrite) != 0) return std::nullopt;
  }
  for (const auto& [k, d] : delegs_) {
    if (d.file == file && (d.clientid == clientid || d.recalled_at)) return std::nullopt;
  }
  // A file recalled within the last lease is not delegated again yet (no ping-pong between a
  // reader and a writer).
  if (auto it = recently_recalled_.find(file); it != recently_recalled_.end()) {
    if (Now() - it->second < lease_) return std::nullopt;
    recently_recalled_.erase(it);
  }
  DelegState d;
  d.stateid = NewStateId();
  d.clientid = clientid;
  d.file = file;
  d.change = change;
  d.bucket_version = bucket_version;
  const StateId id = d.stateid;
  delegs_.emplace(KeyOf(id), std::move(d));
  return id;
}

bool StateManager::BreakDelegations(const FileHandle& file, uint64_t breaker,
                                    std::vector<Recall>* to_recall, bool external) {
  std::lock_guard lock(mu_);
  // A courtesy client cannot answer a recall: it loses all its state instead.
  std::set<uint64_t> holders;
  for (const auto& [k, d] : delegs_) {
    if (d.file == file) holders.insert(d.clientid);
  }
  for (uint64_t id : holders) ExpireCourtesyClient(id, breaker);
  bool outstanding = false;
  for (auto& [k, d] : delegs_) {
    if (!(d.file == file) || d.clientid == breaker) continue;
    outstanding = true;
    d.external_change = d.external_change || external;
    if (d.recalled_at) continue;
    d.recalled_at = Now();
    recently_recalled_[file] = Now();
    to_recall->push_back(Recall{d.stateid, d.file, d.clientid});
  }
  return outstanding;
}

std::optional<uint64_t> StateManager::PinnedChange(uint64_t clientid,
                                                   const FileHandle& file) const {
  std::lock_guard lock(mu_);
  for (const auto& [k, d] : delegs_) {
    if (d.file == file && d.clientid == clientid && d.external_change) return d.change;
  }
  return std::nullopt;
}

bool StateManager::has_delegations() const {
  std::lock_guard lock(mu_);
  return !delegs_.empty();
}

Stat StateManager::DelegReturn(uint32_t minor, uint64_t clientid, const StateId& id,
                               const FileHandle& file) {
  std::lock_guard lock(mu_);
  if (IsRevoked(id)) return Stat::kDelegRevoked;
  DelegState* d = nullptr;
  if (Stat s = FindDeleg(minor, id, &d); s != Stat::kOk) return s;
  if (!(d->file == file)) return Stat::kBadStateId;
  if (minor >= 1 && d->clientid != clientid) return Stat::kBadStateId;
  delegs_.erase(KeyOf(id));
  return Stat::kOk;
}

Stat StateManager::CheckDelegCur(uint32_t minor, uint64_t clientid, const StateId& id,
                                 const FileHandle& file) {
  std::lock_guard lock(mu_);
  if (IsRevoked(id)) return Stat::kDelegRevoked;
  DelegState* d = nullptr;
  if (Stat s = FindDeleg(minor, id, &d); s != Stat::kOk) return s;
  if (!(d->file == file) || d->clientid != clientid) return Stat::kBadStateId;
  return Stat::kOk;
}

std::optional<CallbackPath> StateManager::TakeCallbackPath(uint64_t clientid) {
  std::lock_guard lock(mu_);
  if (const Client* c = FindClient(clientid); c != nullptr && c->minor == 0) {
    if (!c->confirmed || !c->cb40.up) return std::nullopt;
    return Path40(*c);
  }
  for (auto& [id, s] : sessions_) {
    if (s->clientid != clientid || !s->cb.usable || s->back_connections.empty()) continue;
    CallbackPath p;
    p.session = s->id;
    p.connection = *s->back_connections.rbegin();  // the most recently bound
    p.cb = s->cb;
    p.seqid = ++s->cb_seqid;
    if (const Client* c = FindClient(clientid)) p.minor = c->minor;
    return p;
  }
  return std::nullopt;
}

std::optional<CallbackPath> StateManager::CallbackPath40(uint64_t clientid) const {
  std::lock_guard lock(mu_);
  auto it = clients_.find(clientid);
  if (it == clients_.end() || it->second.minor != 0 || !it->second.confirmed) return std::nullopt;
  const Client& c = it->second;
  if (c.cb40.program == 0 || c.cb40.addr.empty()) return std::nullopt;
  return Path40(c);
}

// The callback is sent with the flavor the client used for SETCLIENTID (AUTH_SYS as root, or
// AUTH_NONE), as Linux nfsd does.
CallbackPath StateManager::Path40(const Client& c) {
  CallbackPath p;
  p.minor = 0;
  p.cb40 = c.cb40;
  p.cb.program = c.cb40.program;
  p.cb.usable = true;
  p.cb.flavor =
      c.principal.flavor == rpc::AuthFlavor::kSys ? rpc::AuthFlavor::kSys : rpc::AuthFlavor::kNone;
  p.cb.sys.machine_name = "bucketfs";
  return p;
}

void StateManager::SetCallbackUp(uint64_t clientid, uint64_t version, bool up) {
  std::lock_guard lock(mu_);
  if (Client* c = FindClient(clientid); c != nullptr && c->cb40.version == version) {
    c->cb40.up = up;
  }
}

bool StateManager::HasClient(uint64_t clientid) const {
  std::lock_guard lock(mu_);
  return clients_.contains(clientid);
}

void StateManager::NoteConnection40(uint64_t connection, uint64_t clientid) {
  std::lock_guard lock(mu_);
  conn_client40_[connection] = clientid;
}

uint64_t StateManager::ClientOfConnection40(uint64_t connection) const {
  std::lock_guard lock(mu_);
  auto it = conn_client40_.find(connection);
  return it == conn_client40_.end() ? 0 : it->second;
}

void StateManager::RevokeDelegation(const StateId& id) {
  std::lock_guard lock(mu_);
  auto it = delegs_.find(KeyOf(id));
  if (it != delegs_.end()) RevokeLocked(it);
}

void StateManager::RevokeLocked(std::map<OtherKey, DelegState>::iterator it) {
  if (Client* c = FindClient(it->second.clientid)) c->revoked.insert(it->first);
  delegs_.erase(it);
}

void StateManager::RevokeOverdueDelegations() {
  const auto now = Now();
  for (auto it = delegs_.begin(); it != delegs_.end();) {
    auto next = std::next(it);
    if (it->second.recalled_at && now - *it->second.recalled_at > lease_) RevokeLocked(it);
    it = next;
  }
  std::erase_if(recently_recalled_, [&](const auto& kv) { return now - kv.second > lease_; });
}

bool StateManager::IsRevoked(const StateId& id) const {
  const Other k = KeyOf(id);
  return std::any_of(clients_.begin(), clients_.end(),
                     [&](const auto& kv) { return kv.second.revoked.contains(k); });
}

std::vector<StateManager::DelegatedFile> StateManager::DelegatedFiles() const {
  std::lock_guard lock(mu_);
  std::vector<DelegatedFile> out;
  out.reserve(delegs_.size());
  for (const auto& [k, d] : delegs_) {
    if (!d.recalled_at) out.push_back({d.file, d.bucket_version});
  }
  return out;
}

}  // namespace bucketfs::nfs
