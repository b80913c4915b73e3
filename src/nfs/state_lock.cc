// StateManager: byte-range locks — lock-owners, lock stateids, LOCK, LOCKT, LOCKU,
// RELEASE_LOCKOWNER (RFC 7530 §9.1.4-§9.1.7, §16.10-§16.12, §16.37; RFC 8881 §8.2.4, §9,
// §18.10-§18.12). The ranges themselves live in LockTable (lock_table.h).
#include <cstring>
#include <limits>

#include "nfs/state.h"

namespace bucketfs::nfs {
namespace {

constexpr uint64_t kAllOnes = std::numeric_limits<uint64_t>::max();

// offset/length of a lock request as an inclusive range. A zero length, or one that runs past
// 2^64 - 1 without being the all-ones "to end of file" length, is NFS4ERR_INVAL (RFC 7530
// §16.10.4, RFC 8881 §18.10.3).
Stat ToRange(uint64_t offset, uint64_t length, LockRange* range) {
  if (length == 0) return Stat::kInval;
  if (length == kAllOnes) {
    *range = {offset, kAllOnes};
    return Stat::kOk;
  }
  if (length > kAllOnes - offset) return Stat::kInval;
  *range = {offset, offset + length - 1};
  return Stat::kOk;
}

LockFile ToLockFile(const FileHandle& fh) { return LockFile{fh.export_id, fh.ino}; }

}  // namespace

Stat StateManager::FindIoOpen(uint32_t minor, const StateId& id, OpenState** open) {
  Stat s = FindOpen(minor, id, open);
  if (s != Stat::kBadStateId) return s;
  LockState* l = nullptr;
  if ((s = FindLock(minor, id, &l)) != Stat::kOk) return s;
  auto it = opens_.find(l->open);
  if (it == opens_.end()) return Stat::kBadStateId;
  *open = &it->second;
  return Stat::kOk;
}

uint64_t StateManager::ClientOfLockOwner(uint64_t owner_id) const {
  for (const auto& [key, owner] : lock_owners_) {
    if (owner.id == owner_id) return key.first;
  }
  return 0;
}

std::optional<LockConflict> StateManager::TestLock(const LockFile& file, uint64_t owner_id,
                                                   LockKind kind, const LockRange& range,
                                                   bool honor_waiters, uint64_t requester) {
  for (;;) {
    auto c = lock_table_.Test(file, owner_id, kind, range, honor_waiters, Now());
    if (!c || !ExpireCourtesyClient(ClientOfLockOwner(c->owner), requester)) return c;
  }
}

void StateManager::FillDenied(const LockConflict& c, LockDenied* denied) const {
  denied->offset = c.range.first;
  denied->length = c.range.last == kAllOnes ? kAllOnes : c.range.last - c.range.first + 1;
  denied->kind = c.kind;
  for (const auto& [key, owner] : lock_owners_) {
    if (owner.id == c.owner) {
      denied->clientid = key.first;
      denied->owner = key.second;
      return;
    }
  }
}

void StateManager::DropLockState(const OtherKey& key) {
  auto it = locks_.find(key);
  if (it == locks_.end()) return;
  lock_table_.RemoveOwnerOnFile(ToLockFile(it->second.file), it->second.owner_id);
  locks_.erase(it);
}

void StateManager::DropLocksOfOpen(const OtherKey& open) {
  std::vector<OtherKey> doomed;
  for (const auto& [k, l] : locks_) {
    if (l.open == open) doomed.push_back(k);
  }
  for (const OtherKey& k : doomed) DropLockState(k);
}

// open_to_lock_owner4: the first LOCK of a lock-owner on a file, named through an open stateid
// whose 4.0 open-owner seqid it advances (RFC 7530 §16.10.5).
Stat StateManager::LockNewOwner(uint32_t minor, uint64_t clientid, const LockArgs& args,
                                const FileHandle& file, LockState** lock) {
  OpenState* o = nullptr;
  if (Stat s = FindOpen(minor, args.open_stateid, &o); s != Stat::kOk) return s;
  if (!(o->file == file)) return Stat::kBadStateId;
  if (minor == 0) {
    if ((args.owner_clientid >> 32) != epoch_) return Stat::kStaleClientId;
    if (args.owner_clientid != o->clientid) return Stat::kBadStateId;
  } else if (o->clientid != clientid) {
    return Stat::kBadStateId;
  }
  if (Stat s = CheckOwnerSeqid(minor, *o, args.open_seqid); s != Stat::kOk) return s;
  const OwnerKey key{o->clientid, args.owner};
  auto [owner_it, created] = lock_owners_.try_emplace(key);
  if (created) owner_it->second.id = next_id_++;
  for (auto& [k, l] : locks_) {
    if (l.owner == key && l.file == file) {
      // 4.0: a lock-owner that already has state on the file must use it (RFC 7530 §16.10.5).
      if (minor == 0) return Stat::kBadSeqId;
      *lock = &l;
      return Stat::kOk;
    }
  }
  owner_it->second.seqid = args.lock_seqid;
  LockState l;
  l.stateid = NewStateId();
  l.stateid.seqid = 0;  // the first successful LOCK makes it 1
  l.clientid = o->clientid;
  l.owner = key;
  l.owner_id = owner_it->second.id;
  l.file = file;
  std::memcpy(l.open.data(), o->stateid.other, l.open.size());
  OtherKey k;
  std::memcpy(k.data(), l.stateid.other, k.size());
  *lock = &locks_.emplace(k, std::move(l)).first->second;
  return Stat::kOk;
}

// exist_lock_owner4: a lock stateid and the 4.0 lock-owner seqid (RFC 7530 §9.1.7).
Stat StateManager::LockExistingOwner(uint32_t minor, const LockArgs& args, const FileHandle& file,
                                     LockState** lock) {
  LockState* l = nullptr;
  if (Stat s = FindLock(minor, args.lock_stateid, &l); s != Stat::kOk) return s;
  if (!(l->file == file)) return Stat::kBadStateId;
  if (minor == 0) {
    auto it = lock_owners_.find(l->owner);
    if (it == lock_owners_.end()) return Stat::kBadStateId;
    if (args.lock_seqid != it->second.seqid + 1) return Stat::kBadSeqId;
    it->second.seqid = args.lock_seqid;
  }
  *lock = l;
  return Stat::kOk;
}

Stat StateManager::Lock(uint32_t minor, uint64_t clientid, const LockArgs& args,
                        const FileHandle& file, StateId* out, LockDenied* denied) {
  std::lock_guard lock(mu_);
  // The stateid and seqid checks come first: they are the errors that leave a 4.0 owner's seqid
  // alone; every later error advances it, as success does (RFC 7530 §9.1.7).
  LockState* l = nullptr;
  Stat s = args.new_lock_owner ? LockNewOwner(minor, clientid, args, file, &l)
                               : LockExistingOwner(minor, args, file, &l);
  if (s != Stat::kOk) return s;
  OtherKey key;
  std::memcpy(key.data(), l->stateid.other, key.size());
  const bool fresh = l->stateid.seqid == 0;
  auto fail = [&](Stat st) {
    if (fresh) locks_.erase(key);  // a new lock stateid exists only once it holds a lock
    return st;
  };
  if (Client* c = FindClient(l->clientid)) c->renewed = Now();
  if (Client* c = FindClient(l->clientid); c && args.reclaim) {
    if (Stat st = ReclaimAllowed(*c); st != Stat::kOk) return fail(st);
  } else if (args.reclaim) {
    return fail(Stat::kNoGrace);
  } else if (InGraceLocked()) {
    return fail(Stat::kGrace);  // RFC 8881 §8.4.2.1: new locks wait for the grace period
  }
  LockRange range;
  if ((s = ToRange(args.offset, args.length, &range)) != Stat::kOk) return fail(s);
  auto open = opens_.find(l->open);
  if (open == opens_.end()) return fail(Stat::kBadStateId);
  const uint32_t need = args.kind == LockKind::kWrite ? kShareAccessWrite : kShareAccessRead;
  if ((open->second.access & need) == 0) return fail(Stat::kOpenMode);  // RFC 8881 §18.10.4
  const LockFile lf = ToLockFile(file);
  const auto now = Now();
  if (auto c = TestLock(lf, l->owner_id, args.kind, range, !args.reclaim, l->clientid)) {
    if (args.blocking && !args.reclaim)
      lock_table_.Wait(lf, l->owner_id, args.kind, range, now, now + lease_);
    FillDenied(*c, denied);
    return fail(Stat::kDenied);
  }
  lock_table_.Set(lf, l->owner_id, args.kind, range);
  ++l->stateid.seqid;
  *out = l->stateid;
  return Stat::kOk;
}

Stat StateManager::LockTest(uint32_t minor, uint64_t clientid, LockKind kind, uint64_t offset,
                            uint64_t length, const Bytes& owner, const FileHandle& file,
                            LockDenied* denied) {
  std::lock_guard lock(mu_);
  if ((clientid >> 32) != epoch_) return Stat::kStaleClientId;
  Client* c = FindClient(clientid);
  if (!c || !c->confirmed) return Stat::kStaleClientId;
  c->renewed = Now();
  if (InGraceLocked()) return Stat::kGrace;
  LockRange range;
  if (Stat s = ToRange(offset, length, &range); s != Stat::kOk) return s;
  auto it = lock_owners_.find({clientid, owner});
  const uint64_t owner_id = it == lock_owners_.end() ? 0 : it->second.id;  // 0: no such owner
  auto conflict = TestLock(ToLockFile(file), owner_id, kind, range, false, clientid);
  if (!conflict) return Stat::kOk;
  FillDenied(*conflict, denied);
  return Stat::kDenied;
}

Stat StateManager::LockU(uint32_t minor, uint32_t seqid, const StateId& id, uint64_t offset,
                         uint64_t length, const FileHandle& file, StateId* out) {
  std::lock_guard lock(mu_);
  LockState* l = nullptr;
  if (Stat s = FindLock(minor, id, &l); s != Stat::kOk) return s;
  if (!(l->file == file)) return Stat::kBadStateId;
  if (minor == 0) {
    auto it = lock_owners_.find(l->owner);
    if (it == lock_owners_.end()) return Stat::kBadStateId;
    if (seqid != it->second.seqid + 1) return Stat::kBadSeqId;
    it->second.seqid = seqid;
  }
  if (Client* c = FindClient(l->clientid)) c->renewed = Now();
  LockRange range;
  if (Stat s = ToRange(offset, length, &range); s != Stat::kOk) return s;
  lock_table_.Unset(ToLockFile(file), l->owner_id, range);
  ++l->stateid.seqid;
  *out = l->stateid;
  return Stat::kOk;
}

Stat StateManager::ReleaseLockOwner(uint64_t clientid, const Bytes& owner) {
  std::lock_guard lock(mu_);
  if ((clientid >> 32) != epoch_) return Stat::kStaleClientId;
  Client* c = FindClient(clientid);
  if (!c || !c->confirmed) return Stat::kStaleClientId;
  c->renewed = Now();
  const OwnerKey key{clientid, owner};
  auto it = lock_owners_.find(key);
  if (it == lock_owners_.end()) return Stat::kOk;
  if (lock_table_.HoldsAny(it->second.id)) return Stat::kLocksHeld;
  std::erase_if(locks_, [&](const auto& kv) { return kv.second.owner == key; });
  lock_table_.RemoveOwner(it->second.id);  // its waiters
  lock_owners_.erase(it);
  return Stat::kOk;
}

std::size_t StateManager::lock_count() const {
  std::lock_guard lock(mu_);
  return lock_table_.lock_count();
}

}  // namespace bucketfs::nfs
