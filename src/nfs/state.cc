#include "nfs/state.h"

#include <algorithm>
#include <cstring>
#include <random>

namespace bucketfs::nfs {
namespace {

constexpr uint32_t kExchgIdFlagUpdConfirmedRecA = 0x40000000;
constexpr uint32_t kExchgIdFlagConfirmedR = 0x80000000;
constexpr uint32_t kExchgIdFlagUseNonPnfs = 0x00010000;

bool AllBytes(const StateId& id, uint8_t v) {
  return std::all_of(std::begin(id.other), std::end(id.other), [v](uint8_t b) { return b == v; });
}

void StoreU32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}
void StoreU64(uint8_t* p, uint64_t v) {
  StoreU32(p, static_cast<uint32_t>(v >> 32));
  StoreU32(p + 4, static_cast<uint32_t>(v));
}

// `seen` holds bit (1 << v) per share value v (0..3) asked for: is `want` the union of some of
// them?
bool IsUnionOf(uint8_t seen, uint32_t want) {
  for (uint32_t subset = 1; subset < 16; ++subset) {
    if ((subset & ~uint32_t{seen}) != 0) continue;
    uint32_t u = 0;
    for (uint32_t v = 0; v < 4; ++v) {
      if ((subset & (1u << v)) != 0) u |= v;
    }
    if (u == want) return true;
  }
  return false;
}

// The values of `seen` that are within `mode` (what is left after a downgrade to it).
uint8_t KeepWithin(uint8_t seen, uint32_t mode) {
  uint8_t out = 0;
  for (uint32_t v = 0; v < 4; ++v) {
    if ((seen & (1u << v)) != 0 && (v & ~mode) == 0) out |= static_cast<uint8_t>(1u << v);
  }
  return out;
}

uint32_t MakeEpoch() {
  // Seconds since the Unix epoch, mixed with randomness so two starts within one second differ.
  auto now = std::chrono::system_clock::now().time_since_epoch();
  uint32_t secs =
      static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::seconds>(now).count());
  std::random_device rd;
  return secs ^ (rd() & 0xfff);
}

}  // namespace

Principal Principal::From(const rpc::CallContext& call) {
  Principal p;
  p.flavor = call.flavor;
  if (call.flavor == rpc::AuthFlavor::kSys) {
    p.uid = call.sys.uid;
    p.machine = call.sys.machine_name;
  }
  return p;
}

bool IsAnonymousStateId(const StateId& id) { return id.seqid == 0 && AllBytes(id, 0); }
bool IsReadBypassStateId(const StateId& id) { return id.seqid == 0xffffffff && AllBytes(id, 0xff); }
bool IsCurrentStateId(const StateId& id) { return id.seqid == 1 && AllBytes(id, 0); }

StateManager::StateManager(std::chrono::seconds lease, StateLimits limits, StateClock clock)
    : lease_(lease),
      limits_(limits),
      clock_(clock ? std::move(clock)
                   : StateClock([] { return std::chrono::steady_clock::now(); })),
      epoch_(MakeEpoch()) {
  StoreU32(boot_verifier_.data(), epoch_);
  std::random_device rd;
  StoreU32(boot_verifier_.data() + 4, rd());
}

uint64_t StateManager::NewClientId() {
  return (uint64_t{epoch_} << 32) | (next_id_++ & 0xffffffff);
}

StateId StateManager::NewStateId() {
  StateId id;
  id.seqid = 1;
  StoreU32(id.other, epoch_);
  StoreU64(id.other + 4, next_id_++);
  return id;
}

StateManager::Client* StateManager::FindClient(uint64_t clientid) {
  auto it = clients_.find(clientid);
  return it == clients_.end() ? nullptr : &it->second;
}

StateManager::Client* StateManager::FindByOwner(const Bytes& owner, bool confirmed) {
  for (auto& [id, c] : clients_) {
    if (c.owner == owner && c.confirmed == confirmed) return &c;
  }
  return nullptr;
}

StateManager::Client& StateManager::AddUnconfirmed(const Bytes& owner, const Verifier& verifier,
                                                   const Principal& who, uint32_t minor) {
  // A new unconfirmed record replaces any earlier unconfirmed one of the same owner.
  if (Client* old = FindByOwner(owner, false)) RemoveClient(old->clientid);
  Client c;
  c.clientid = NewClientId();
  c.owner = owner;
  c.verifier = verifier;
  c.principal = who;
  c.minor = minor;
  c.renewed = Now();
  const uint64_t id = c.clientid;
  return clients_.emplace(id, std::move(c)).first->second;
}

void StateManager::RememberExpired(const OtherKey& k) {
  constexpr std::size_t kMaxExpiredStateIds = 4096;
  if (!expired_.insert(k).second) return;
  expired_order_.push_back(k);
  if (expired_order_.size() > kMaxExpiredStateIds) {
    expired_.erase(expired_order_.front());
    expired_order_.pop_front();
  }
}

void StateManager::RemoveClient(uint64_t clientid) {
  auto remember = [&](const auto& table) {
    for (const auto& [k, s] : table) {
      if (s.clientid == clientid) RememberExpired(k);
    }
  };
  remember(opens_);
  remember(locks_);
  remember(delegs_);
  std::erase_if(sessions_, [&](const auto& kv) { return kv.second->clientid == clientid; });
  std::erase_if(opens_, [&](const auto& kv) { return kv.second.clientid == clientid; });
  std::erase_if(owners_, [&](const auto& kv) { return kv.first.first == clientid; });
  // Its locks go with it, which unblocks every client waiting for them (RFC 8881 §8.3).
  std::erase_if(locks_, [&](const auto& kv) { return kv.second.clientid == clientid; });
  std::erase_if(delegs_, [&](const auto& kv) { return kv.second.clientid == clientid; });
  for (auto it = lock_owners_.begin(); it != lock_owners_.end();) {
    if (it->first.first != clientid) {
      ++it;
      continue;
    }
    lock_table_.RemoveOwner(it->second.id);
    it = lock_owners_.erase(it);
  }
  std::erase_if(conn_client40_, [&](const auto& kv) { return kv.second == clientid; });
  clients_.erase(clientid);
}

// RFC 8881 §18.35.5, the cases that matter without SSV/mach-cred protection: a new owner, the
// same incarnation (same verifier), a client reboot (new verifier), an update of a confirmed
// record, and a different principal using a confirmed owner (CLID_INUSE).
Stat StateManager::ExchangeId(const Principal& who, const ExchangeIdArgs& args, uint64_t* clientid,
                              uint32_t* sequenceid, uint32_t* flags, uint32_t minor) {
  std::lock_guard lock(mu_);
  const bool update = (args.flags & kExchgIdFlagUpdConfirmedRecA) != 0;
  Client* confirmed = FindByOwner(args.owner_id, true);
  if (update) {
    if (!confirmed) return Stat::kNoEnt;
    if (!(confirmed->principal == who)) return Stat::kPerm;
    if (confirmed->verifier != args.verifier) return Stat::kNotSame;
    confirmed->renewed = Now();
    *clientid = confirmed->clientid;
    *sequenceid = confirmed->cs_sequence;
    *flags = kExchgIdFlagUseNonPnfs | kExchgIdFlagConfirmedR;
    return Stat::kOk;
  }
  if (confirmed && !(confirmed->principal == who)) {
    bool has_state = std::any_of(sessions_.begin(), sessions_.end(), [&](const auto& kv) {
      return kv.second->clientid == confirmed->clientid;
    });
    if (has_state) return Stat::kClidInUse;
  }
  if (confirmed && confirmed->principal == who && confirmed->verifier == args.verifier) {
    confirmed->renewed = Now();
    *clientid = confirmed->clientid;
    *sequenceid = confirmed->cs_sequence;
    *flags = kExchgIdFlagUseNonPnfs | kExchgIdFlagConfirmedR;
    return Stat::kOk;
  }
  // New owner, a rebooted client, or a fresh principal: a new unconfirmed record replaces any
  // earlier unconfirmed one. A confirmed record of a rebooted client is dropped when the new one
  // is confirmed by CREATE_SESSION.
  Client& c = AddUnconfirmed(args.owner_id, args.verifier, who, std::max<uint32_t>(minor, 1));
  *clientid = c.clientid;
  *sequenceid = c.cs_sequence;
  *flags = kExchgIdFlagUseNonPnfs;
  return Stat::kOk;
}

ChannelAttrs StateManager::Clamp(const ChannelAttrs& asked, bool fore) const {
  ChannelAttrs a = asked;
  a.header_pad_size = 0;
  a.rdma_ird.reset();
  a.max_request_size = std::min(a.max_request_size, limits_.max_request_size);
  a.max_response_size = std::min(a.max_response_size, limits_.max_response_size);
  a.max_response_size_cached =
      std::min(a.max_response_size_cached, limits_.max_response_size_cached);
  a.max_operations = std::min(a.max_operations, limits_.max_operations);
  a.max_requests = std::clamp<uint32_t>(a.max_requests, 1, fore ? limits_.max_slots : 16);
  return a;
}

Stat StateManager::CreateSession(const Principal& who, uint64_t connection,
                                 const CreateSessionArgs& args, SessionId* id, uint32_t* sequenceid,
                                 ChannelAttrs* fore, ChannelAttrs* back, Bytes* confirmed_owner) {
  std::lock_guard lock(mu_);
  if ((args.clientid >> 32) != epoch_) return Stat::kStaleClientId;
  Client* c = FindClient(args.clientid);
  if (!c) return Stat::kStaleClientId;
  if (!(c->principal == who)) return Stat::kClidInUse;
  // RFC 8881 §18.36.4: the create-session "slot" of the client.
  if (c->cs_cached && args.sequence + 1 == c->cs_sequence) {
    *id = c->cs_session;
    *sequenceid = args.sequence;
    *fore = c->cs_fore;
    *back = c->cs_back;
    return Stat::kOk;
  }
  if (args.sequence != c->cs_sequence) return Stat::kSeqMisordered;
  if (args.fore.max_request_size < 256 || args.fore.max_response_size < 256) {
    return Stat::kTooSmall;
  }
  if (!c->confirmed) {
    // Confirming this record retires an earlier incarnation of the same owner.
    if (Client* old = FindByOwner(c->owner, true)) RemoveClient(old->clientid);
    c = FindClient(args.clientid);
    c->confirmed = true;
    if (confirmed_owner != nullptr) *confirmed_owner = c->owner;
  }
  auto s = std::make_shared<Session>();
  StoreU32(s->id.data(), epoch_);
  StoreU64(s->id.data() + 4, args.clientid);
  StoreU32(s->id.data() + 12, static_cast<uint32_t>(next_id_++));
  s->clientid = args.clientid;
  s->fore = Clamp(args.fore, true);
  s->back = Clamp(args.back, false);
  s->slots.resize(s->fore.max_requests);
  s->connections.insert(connection);
  s->cb = args.cb;
  if ((args.flags & kCreateSessionConnBackChan) != 0 && args.cb.usable) {
    s->back_connections.insert(connection);
  }
  sessions_[s->id] = s;

  c->cs_cached = true;
  c->cs_session = s->id;
  c->cs_fore = s->fore;
  c->cs_back = s->back;
  *sequenceid = c->cs_sequence++;
  c->renewed = Now();
  *id = s->id;
  *fore = s->fore;
  *back = s->back;
  return Stat::kOk;
}

Stat StateManager::Sequence(const SessionId& id, uint32_t seqid, uint32_t slotid, uint32_t op_count,
                            uint64_t connection, SequenceOutcome* out) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return Stat::kBadSession;
  Session& s = *it->second;
  if (slotid >= s.slots.size()) return Stat::kBadSlot;
  Session::Slot& slot = s.slots[slotid];
  out->highest_slotid = static_cast<uint32_t>(s.slots.size() - 1);
  out->target_highest_slotid = out->highest_slotid;
  if (seqid == slot.seqid) {  // retransmission (RFC 8881 §2.10.6.1.2)
    if (slot.in_use) return Stat::kDelay;
    if (!slot.reply) return Stat::kRetryUncachedRep;
    out->replay = slot.reply;
    return Stat::kOk;
  }
  if (seqid != slot.seqid + 1) return Stat::kSeqMisordered;
  if (slot.in_use) return Stat::kDelay;
  if (op_count > s.fore.max_operations) return Stat::kTooManyOps;
  slot.seqid = seqid;
  slot.in_use = true;
  slot.reply.reset();
  s.connections.insert(connection);
  out->status_flags = 0;
  if (Client* c = FindClient(s.clientid)) {
    c->renewed = Now();
    if (!c->revoked.empty()) out->status_flags |= kSeq4StatusRecallableStateRevoked;
  }
  out->session = it->second;
  return Stat::kOk;
}

void StateManager::CompleteSlot(Session& session, uint32_t slot, ByteView reply, bool cache) {
  std::lock_guard lock(mu_);
  if (slot >= session.slots.size()) return;
  Session::Slot& s = session.slots[slot];
  s.in_use = false;
  if (cache) s.reply = std::make_shared<const Bytes>(reply.begin(), reply.end());
}

Stat StateManager::DestroySession(const SessionId& id) {
  std::lock_guard lock(mu_);
  return sessions_.erase(id) ? Stat::kOk : Stat::kBadSession;
}

Stat StateManager::DestroyClientId(uint64_t clientid) {
  std::lock_guard lock(mu_);
  if (!FindClient(clientid)) return Stat::kStaleClientId;
  for (const auto& [id, s] : sessions_) {
    if (s->clientid == clientid) return Stat::kClientIdBusy;
  }
  const Bytes owner = FindClient(clientid)->owner;
  RemoveClient(clientid);
  Unrecord(owner);
  return Stat::kOk;
}

Stat StateManager::BindConnToSession(const SessionId& id, uint64_t connection, bool back) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return Stat::kBadSession;
  it->second->connections.insert(connection);
  if (back && it->second->cb.usable) it->second->back_connections.insert(connection);
  return Stat::kOk;
}

Stat StateManager::BackchannelCtl(const SessionId& id, const CallbackSec& cb) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return Stat::kBadSession;
  if (!cb.usable) return Stat::kEncrAlgUnsupp;  // only RPCSEC_GSS offered
  it->second->cb = cb;
  return Stat::kOk;
}

Stat StateManager::ReclaimComplete(uint64_t clientid) {
  std::lock_guard lock(mu_);
  Client* c = FindClient(clientid);
  if (!c) return Stat::kStaleClientId;
  if (c->reclaim_complete) return Stat::kCompleteAlready;
  c->reclaim_complete = true;
  reclaim_pending_.erase(c->owner);  // the grace period ends once no previous client is pending
  return Stat::kOk;
}

// RFC 7530 §16.33.5: a confirmed record with the same verifier and principal is a callback
// update (same clientid, new confirm verifier); anything else is a new incarnation.
Stat StateManager::SetClientId(const Principal& who, const SetClientIdArgs& args,
                               uint64_t* clientid, Verifier* confirm) {
  std::lock_guard lock(mu_);
  std::random_device rd;
  Verifier v{};
  StoreU32(v.data(), rd());
  StoreU32(v.data() + 4, static_cast<uint32_t>(next_id_++));
  Client* confirmed = FindByOwner(args.id, true);
  if (confirmed && !(confirmed->principal == who)) {
    bool has_state = std::any_of(opens_.begin(), opens_.end(), [&](const auto& kv) {
      return kv.second.clientid == confirmed->clientid;
    });
    if (has_state) return Stat::kClidInUse;
  }
  Callback40 cb;
  cb.program = args.cb_program;
  cb.netid = args.r_netid;
  cb.addr = args.r_addr;
  cb.ident = args.callback_ident;
  cb.version = next_cb_version_++;
  if (confirmed && confirmed->principal == who && confirmed->verifier == args.verifier) {
    confirmed->pending_update = true;
    confirmed->pending_confirm = v;
    confirmed->pending_cb40 = std::move(cb);
    *clientid = confirmed->clientid;
    *confirm = v;
    return Stat::kOk;
  }
  Client& c = AddUnconfirmed(args.id, args.verifier, who, /*minor=*/0);
  c.confirm = v;
  c.cb40 = std::move(cb);
  *clientid = c.clientid;
  *confirm = v;
  return Stat::kOk;
}

Stat StateManager::SetClientIdConfirm(uint64_t clientid, const Verifier& confirm,
                                      Bytes* confirmed_owner) {
  std::lock_guard lock(mu_);
  Client* c = FindClient(clientid);
  if (!c || c->minor != 0) return Stat::kStaleClientId;
  if (c->confirmed) {
    if (c->pending_update && c->pending_confirm == confirm) {
      c->pending_update = false;
      c->confirm = confirm;
      c->cb40 = std::move(c->pending_cb40);  // the new path is probed again
      c->pending_cb40 = {};
    } else if (c->confirm != confirm) {
      return Stat::kStaleClientId;
    }
    c->renewed = Now();
    return Stat::kOk;
  }
  if (c->confirm != confirm) return Stat::kStaleClientId;
  if (Client* old = FindByOwner(c->owner, true)) RemoveClient(old->clientid);
  c = FindClient(clientid);
  c->confirmed = true;
  c->renewed = Now();
  if (confirmed_owner != nullptr) *confirmed_owner = c->owner;
  return Stat::kOk;
}

Stat StateManager::Renew(uint64_t clientid) {
  std::lock_guard lock(mu_);
  if ((clientid >> 32) != epoch_) return Stat::kStaleClientId;
  Client* c = FindClient(clientid);
  if (!c || !c->confirmed) return Stat::kExpired;
  c->renewed = Now();
  const bool delegated = std::any_of(delegs_.begin(), delegs_.end(), [&](const auto& kv) {
    return kv.second.clientid == clientid && !kv.second.recalled_at;
  });
  if (delegated && !c->cb40.up) return Stat::kCbPathDown;
  return Stat::kOk;
}

// RFC 7530 §9.9, §16.16.5: a share_deny bars the access it names to every other open, the same
// open-owner's included (an owner that denied READ cannot open the file for reading again).
std::optional<uint64_t> StateManager::ShareConflictWith(const OpenState& mine, uint32_t access,
                                                        uint32_t deny) const {
  for (const auto& [k, o] : opens_) {
    if (!(o.file == mine.file)) continue;
    if ((o.deny & access) != 0) return o.clientid;
    const bool same_owner = o.clientid == mine.clientid && o.owner == mine.owner;
    if (!same_owner && (deny & o.access) != 0) return o.clientid;
  }
  return std::nullopt;
}

bool StateManager::ShareConflict(const OpenState& mine, uint32_t access, uint32_t deny) {
  for (;;) {
    std::optional<uint64_t> holder = ShareConflictWith(mine, access, deny);
    if (!holder) return false;
    if (!ExpireCourtesyClient(*holder, mine.clientid)) return true;
  }
}

bool StateManager::DeniedToSpecialStateId(const FileHandle& file, bool write) {
  const uint32_t access = write ? kShareAccessWrite : kShareAccessRead;
  for (;;) {
    auto it = std::find_if(opens_.begin(), opens_.end(), [&](const auto& kv) {
      return kv.second.file == file && (kv.second.deny & access) != 0;
    });
    if (it == opens_.end()) return false;
    if (!ExpireCourtesyClient(it->second.clientid, 0)) return true;
  }
}

bool StateManager::HoldsState(uint64_t clientid) const {
  auto mine = [&](const auto& kv) { return kv.second.clientid == clientid; };
  return std::any_of(opens_.begin(), opens_.end(), mine) ||
         std::any_of(delegs_.begin(), delegs_.end(), mine);
}

bool StateManager::ExpireCourtesyClient(uint64_t clientid, uint64_t requester) {
  if (clientid == requester) return false;
  Client* c = FindClient(clientid);
  if (c == nullptr || !LeaseExpired(*c)) return false;
  ExpireClient(clientid);
  return true;
}

void StateManager::ExpireClient(uint64_t clientid) {
  const Bytes owner = clients_.at(clientid).owner;
  RemoveClient(clientid);
  Unrecord(owner);
}

// 4.0 open-owner sequencing (RFC 7530 §9.1.7). Replays of the last request are answered
// BAD_SEQID in this slice: the per-owner reply cache comes with the locking issue.
Stat StateManager::CheckOwnerSeqid(uint32_t minor, const OpenState& open, uint32_t seqid) {
  if (minor != 0) return Stat::kOk;
  auto it = owners_.find({open.clientid, open.owner});
  if (it == owners_.end()) return Stat::kBadStateId;
  if (seqid != it->second.seqid + 1) return Stat::kBadSeqId;
  it->second.seqid = seqid;
  return Stat::kOk;
}

Stat StateManager::Open(uint32_t minor, uint64_t clientid, const OpenArgs& args,
                        const FileHandle& file, StateId* stateid, bool* confirm) {
  std::lock_guard lock(mu_);
  if ((clientid >> 32) != epoch_) return Stat::kStaleClientId;
  Client* c = FindClient(clientid);
  if (!c || !c->confirmed) return Stat::kStaleClientId;
  c->renewed = Now();
  *confirm = false;
  OwnerKey key{clientid, args.owner};
  if (minor == 0) {
    auto it = owners_.find(key);
    if (it != owners_.end() && it->second.confirmed) {
      if (args.seqid != it->second.seqid + 1) return Stat::kBadSeqId;
      it->second.seqid = args.seqid;
    } else {
      // A new (or never confirmed) owner confirms with OPEN_CONFIRM, except in a reclaim: that
      // owner was confirmed before the restart, and the client's reclaim OPEN asks for no file
      // handle to confirm with (RFC 7530 §9.1.11, §16.18.4).
      const bool reclaim = args.claim == ClaimType::kPrevious && ReclaimAllowed(*c) == Stat::kOk;
      owners_[key] = OpenOwner{args.seqid, reclaim};
      *confirm = !reclaim;
    }
  } else {
    owners_.try_emplace(key, OpenOwner{0, true});
  }
  if (Stat st = CheckGrace(minor, *c, args.claim); st != Stat::kOk) return st;
  const uint32_t access = args.share_access & kShareAccessMask;
  const uint32_t deny = args.share_deny & kShareDenyMask;
  OpenState probe;
  probe.clientid = clientid;
  probe.owner = args.owner;
  probe.file = file;
  if (ShareConflict(probe, access, deny)) return Stat::kShareDenied;
  for (auto& [k, o] : opens_) {
    if (o.clientid == clientid && o.owner == args.owner && o.file == file) {
      o.access |= access;  // upgrade (RFC 8881 §18.16.4)
      o.deny |= deny;
      o.access_seen |= static_cast<uint8_t>(1u << access);
      o.deny_seen |= static_cast<uint8_t>(1u << deny);
      ++o.stateid.seqid;
      *stateid = o.stateid;
      return Stat::kOk;
    }
  }
  OpenState o = probe;
  o.stateid = NewStateId();
  o.access = access;
  o.deny = deny;
  o.access_seen = static_cast<uint8_t>(1u << access);
  o.deny_seen = static_cast<uint8_t>(1u << deny);
  OtherKey k;
  std::memcpy(k.data(), o.stateid.other, k.size());
  *stateid = o.stateid;
  opens_.emplace(k, std::move(o));
  return Stat::kOk;
}

Stat StateManager::CheckOpen(uint32_t minor, uint64_t clientid, const OpenArgs& args,
                             const FileHandle* file) {
  std::lock_guard lock(mu_);
  if ((clientid >> 32) != epoch_) return Stat::kStaleClientId;
  Client* c = FindClient(clientid);
  if (!c || !c->confirmed) return Stat::kStaleClientId;
  if (minor == 0) {
    auto it = owners_.find({clientid, args.owner});
    if (it != owners_.end() && it->second.confirmed && args.seqid != it->second.seqid + 1) {
      return Stat::kBadSeqId;
    }
  }
  if (Stat st = CheckGrace(minor, *c, args.claim); st != Stat::kOk) return st;
  if (file) {
    OpenState probe;
    probe.clientid = clientid;
    probe.owner = args.owner;
    probe.file = *file;
    if (ShareConflict(probe, args.share_access & kShareAccessMask,
                      args.share_deny & kShareDenyMask)) {
      return Stat::kShareDenied;
    }
  }
  return Stat::kOk;
}

std::optional<SeqidOwner> StateManager::SeqidOwnerOf(const StateId& id, bool lock_owner,
                                                     uint32_t seqid) const {
  std::lock_guard lock(mu_);
  OtherKey k;
  std::memcpy(k.data(), id.other, k.size());
  std::optional<OwnerKey> key;
  if (lock_owner) {
    if (auto it = locks_.find(k); it != locks_.end()) key = it->second.owner;
  } else if (auto it = opens_.find(k); it != opens_.end()) {
    key = OwnerKey{it->second.clientid, it->second.owner};
  } else if (auto c = closed_owner_.find(k); c != closed_owner_.end()) {
    key = c->second;
  }
  if (!key) return std::nullopt;
  return SeqidOwner{lock_owner, key->first, key->second, seqid};
}

std::shared_ptr<const CachedReply> StateManager::Replay40(const SeqidOwner& o) const {
  std::lock_guard lock(mu_);
  const OwnerKey key{o.clientid, o.owner};
  if (o.lock_owner) {
    auto it = lock_owners_.find(key);
    if (it == lock_owners_.end() || it->second.seqid != o.seqid) return nullptr;
    return it->second.reply;
  }
  auto it = owners_.find(key);
  if (it == owners_.end() || it->second.seqid != o.seqid) return nullptr;
  return it->second.reply;
}

void StateManager::RememberReply40(const SeqidOwner& o, Stat status, ByteView body,
                                   std::optional<FileHandle> fh) {
  std::lock_guard lock(mu_);
  const OwnerKey key{o.clientid, o.owner};
  auto keep = [&](uint32_t* seqid, std::shared_ptr<const CachedReply>* reply, bool sequenced) {
    // A failure before the seqid was checked still used it up (RFC 7530 §9.1.7).
    if (sequenced && *seqid + 1 == o.seqid) *seqid = o.seqid;
    if (*seqid != o.seqid) return;
    *reply = std::make_shared<const CachedReply>(
        CachedReply{status, Bytes(body.begin(), body.end()), std::move(fh)});
  };
  if (o.lock_owner) {
    if (auto it = lock_owners_.find(key); it != lock_owners_.end()) {
      keep(&it->second.seqid, &it->second.reply, true);
    }
  } else if (auto it = owners_.find(key); it != owners_.end()) {
    // An unconfirmed owner's next OPEN may carry any seqid: nothing to advance.
    keep(&it->second.seqid, &it->second.reply, it->second.confirmed);
  }
}

void StateManager::AdvanceOpenSeqid(uint64_t clientid, const Bytes& owner, uint32_t seqid) {
  std::lock_guard lock(mu_);
  auto it = owners_.find({clientid, owner});
  if (it != owners_.end() && it->second.confirmed && seqid == it->second.seqid + 1) {
    it->second.seqid = seqid;
  }
}

Stat StateManager::OpenConfirm(const StateId& id, uint32_t seqid, const FileHandle& file,
                               StateId* out) {
  std::lock_guard lock(mu_);
  OpenState* o = nullptr;
  if (Stat s = FindOpen(0, id, &o); s != Stat::kOk) return s;
  if (!(o->file == file)) return Stat::kBadStateId;
  auto it = owners_.find({o->clientid, o->owner});
  if (it == owners_.end()) return Stat::kBadStateId;
  if (it->second.confirmed) return Stat::kBadStateId;
  if (seqid != it->second.seqid + 1) return Stat::kBadSeqId;
  it->second.seqid = seqid;
  it->second.confirmed = true;
  ++o->stateid.seqid;
  *out = o->stateid;
  return Stat::kOk;
}

Stat StateManager::OpenDowngrade(uint32_t minor, const StateId& id, uint32_t seqid, uint32_t access,
                                 uint32_t deny, const FileHandle& file, StateId* out) {
  std::lock_guard lock(mu_);
  OpenState* o = nullptr;
  if (Stat s = FindOpen(minor, id, &o); s != Stat::kOk) return s;
  if (!(o->file == file)) return Stat::kBadStateId;
  // The seqid first: a wrong one is BAD_SEQID whatever else is wrong (pynfs OPDG4), and an
  // INVAL below still uses up a right one (RFC 7530 §9.1.7).
  if (Stat s = CheckOwnerSeqid(minor, *o, seqid); s != Stat::kOk) return s;
  access &= kShareAccessMask;
  if (access == 0 || (access & ~o->access) != 0 || (deny & ~o->deny) != 0) return Stat::kInval;
  // Only back to what some of the OPENs asked for: BOTH alone never downgrades to READ (pynfs
  // OPDG2/3, as Linux nfsd).
  if (!IsUnionOf(o->access_seen, access) || !IsUnionOf(o->deny_seen, deny)) return Stat::kInval;
  o->access = access;
  o->deny = deny;
  o->access_seen = KeepWithin(o->access_seen, access);
  o->deny_seen = KeepWithin(o->deny_seen, deny);
  ++o->stateid.seqid;
  *out = o->stateid;
  return Stat::kOk;
}

Stat StateManager::Close(uint32_t minor, const StateId& id, uint32_t seqid, const FileHandle& file,
                         StateId* out, bool* last_open) {
  std::lock_guard lock(mu_);
  OpenState* o = nullptr;
  if (Stat s = FindOpen(minor, id, &o); s != Stat::kOk) return s;
  if (!(o->file == file)) return Stat::kBadStateId;
  if (Stat s = CheckOwnerSeqid(minor, *o, seqid); s != Stat::kOk) return s;
  *out = o->stateid;
  ++out->seqid;
  OtherKey k;
  std::memcpy(k.data(), id.other, k.size());
  // A server may free the open's byte-range locks at CLOSE instead of answering LOCKS_HELD
  // (RFC 8881 §18.2.4); clients unlock first anyway, and nothing is left behind for one that
  // did not.
  DropLocksOfOpen(k);
  if (minor == 0) {
    closed_owner_[k] = OwnerKey{o->clientid, o->owner};
    closed_order_.push_back(k);
    if (closed_order_.size() > kMaxClosedOpens) {
      closed_owner_.erase(closed_order_.front());
      closed_order_.pop_front();
    }
  }
  opens_.erase(k);
  if (last_open) {
    *last_open = std::none_of(opens_.begin(), opens_.end(),
                              [&](const auto& kv) { return kv.second.file == file; });
  }
  return Stat::kOk;
}

Stat StateManager::TestStateId(uint64_t clientid, const StateId& id) {
  std::lock_guard lock(mu_);
  if (IsRevoked(id)) return Stat::kDelegRevoked;
  if (DelegState* d = nullptr; FindDeleg(1, id, &d) == Stat::kOk) {
    return d->clientid == clientid ? Stat::kOk : Stat::kBadStateId;
  }
  OpenState* o = nullptr;
  Stat s = FindOpen(1, id, &o);
  if (s == Stat::kOk) return o->clientid == clientid ? Stat::kOk : Stat::kBadStateId;
  if (s != Stat::kBadStateId) return s;
  LockState* l = nullptr;
  if ((s = FindLock(1, id, &l)) != Stat::kOk) return s;
  return l->clientid == clientid ? Stat::kOk : Stat::kBadStateId;
}

// RFC 8881 §18.38.4: an open stateid is freed by CLOSE (LOCKS_HELD); a lock stateid once it
// holds no lock.
Stat StateManager::FreeStateId(uint64_t clientid, const StateId& any_seqid) {
  std::lock_guard lock(mu_);
  // The stateid is named by its "other" field alone: seqid 0 is "any generation" in 4.1.
  StateId id = any_seqid;
  id.seqid = 0;
  OtherKey key;
  std::memcpy(key.data(), id.other, key.size());
  if (Client* c = FindClient(clientid); c && c->revoked.erase(key) > 0) return Stat::kOk;
  if (DelegState* d = nullptr; FindDeleg(1, id, &d) == Stat::kOk) {
    return d->clientid == clientid ? Stat::kLocksHeld : Stat::kBadStateId;  // DELEGRETURN it
  }
  OpenState* o = nullptr;
  Stat s = FindOpen(1, id, &o);
  if (s == Stat::kOk) return o->clientid == clientid ? Stat::kLocksHeld : Stat::kBadStateId;
  if (s != Stat::kBadStateId) return s;
  LockState* l = nullptr;
  if ((s = FindLock(1, id, &l)) != Stat::kOk) return s;
  if (l->clientid != clientid) return Stat::kBadStateId;
  if (lock_table_.Holds(LockFile{l->file.export_id, l->file.ino}, l->owner_id)) {
    return Stat::kLocksHeld;
  }
  OtherKey k;
  std::memcpy(k.data(), id.other, k.size());
  DropLockState(k);
  return Stat::kOk;
}

Stat StateManager::CheckIo(uint32_t minor, const StateId& id, const FileHandle& file, bool write) {
  std::lock_guard lock(mu_);
  // I/O without an open (the special stateids) still respects the share_deny of every open of
  // the file: NFS4ERR_LOCKED (RFC 7530 §9.1.4.3, RFC 8881 §9.7).
  // The READ bypass stateid in a WRITE or SETATTR is the anonymous one (RFC 8881 §8.2.3).
  if (IsAnonymousStateId(id) || IsReadBypassStateId(id)) {
    return DeniedToSpecialStateId(file, write) ? Stat::kLocked : Stat::kOk;
  }
  // A delegation stateid reads the file it delegates (RFC 8881 §10.2.1); a read delegation does
  // not write.
  if (DelegState* d = nullptr; FindDeleg(minor, id, &d) == Stat::kOk) {
    if (!(d->file == file)) return Stat::kBadStateId;
    if (write) return Stat::kOpenMode;
    if (Client* c = FindClient(d->clientid)) c->renewed = Now();
    return Stat::kOk;
  }
  if (IsRevoked(id)) return Stat::kDelegRevoked;
  OpenState* o = nullptr;
  // Clients that hold locks on a file do their I/O with the lock stateid (RFC 8881 §8.2.2).
  if (Stat s = FindIoOpen(minor, id, &o); s != Stat::kOk) return s;
  if (!(o->file == file)) return Stat::kBadStateId;
  if (write && (o->access & kShareAccessWrite) == 0) return Stat::kOpenMode;
  if (Client* c = FindClient(o->clientid)) c->renewed = Now();
  return Stat::kOk;
}

std::size_t StateManager::ReapExpired() {
  std::lock_guard lock(mu_);
  const auto now = Now();
  std::vector<uint64_t> expired;
  // Courtesy clients, the longest silent first.
  std::vector<std::pair<std::chrono::steady_clock::time_point, uint64_t>> courtesy;
  for (const auto& [id, c] : clients_) {
    if (now - c.renewed <= lease_) continue;
    const bool keep = c.confirmed && now - c.renewed <= limits_.courtesy && HoldsState(id);
    if (keep) {
      courtesy.emplace_back(c.renewed, id);
    } else {
      expired.push_back(id);
    }
  }
  if (courtesy.size() > limits_.max_courtesy_clients) {
    std::sort(courtesy.begin(), courtesy.end());
    const std::size_t over = courtesy.size() - limits_.max_courtesy_clients;
    for (std::size_t i = 0; i < over; ++i) expired.push_back(courtesy[i].second);
  }
  for (uint64_t id : expired) ExpireClient(id);
  RevokeOverdueDelegations();
  EndGraceIfOver();
  return expired.size();
}

void StateManager::ConnectionClosed(uint64_t connection) {
  std::lock_guard lock(mu_);
  conn_client40_.erase(connection);
  for (auto& [id, s] : sessions_) {
    s->connections.erase(connection);
    s->back_connections.erase(connection);
  }
}

StateManager::Counts StateManager::counts() const {
  std::lock_guard lock(mu_);
  Counts c;
  for (const auto& [id, client] : clients_) {
    if (!client.confirmed) continue;
    ++(LeaseExpired(client) ? c.courtesy_clients : c.clients);
  }
  c.sessions = sessions_.size();
  c.opens = opens_.size();
  c.lock_stateids = locks_.size();
  c.locks = lock_table_.lock_count();
  c.delegations = delegs_.size();
  c.in_grace = InGraceLocked();
  return c;
}

std::size_t StateManager::client_count() const {
  std::lock_guard lock(mu_);
  return clients_.size();
}

}  // namespace bucketfs::nfs
