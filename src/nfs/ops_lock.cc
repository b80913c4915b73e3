// Byte-range lock operations: LOCK, LOCKT, LOCKU, RELEASE_LOCKOWNER. The handlers decode and
// encode; the lock state machine is StateManager's (state_lock.cc), reached through the
// adapter in ops_state.cc.
#include "nfs/op_util.h"
#include "nfs/ops_handlers.h"
#include "nfs/ops_state.h"

namespace bucketfs::nfs {
namespace {

// nfs_lock_type4 (RFC 7530 §16.10.1). Values outside 1..4 are not of the enum: BADXDR.
constexpr uint32_t kReadLt = 1;
constexpr uint32_t kWriteLt = 2;
constexpr uint32_t kReadwLt = 3;
constexpr uint32_t kWritewLt = 4;

bool DecodeLockType(xdr::Decoder& d, LockKind* kind, bool* blocking) {
  uint32_t t = 0;
  if (!d.ReadU32(&t) || t < kReadLt || t > kWritewLt) return false;
  *kind = (t == kWriteLt || t == kWritewLt) ? LockKind::kWrite : LockKind::kRead;
  if (blocking) *blocking = t == kReadwLt || t == kWritewLt;
  return true;
}

// lock_owner4 (RFC 7530 §16.10.1).
bool DecodeLockOwner(xdr::Decoder& d, uint64_t* clientid, Bytes* owner) {
  return d.ReadU64(clientid) && d.ReadOpaque(kNfs4OpaqueLimit, owner);
}

bool DecodeLockArgs(xdr::Decoder& d, LockArgs* a) {
  if (!DecodeLockType(d, &a->kind, &a->blocking) || !d.ReadBool(&a->reclaim) ||
      !d.ReadU64(&a->offset) || !d.ReadU64(&a->length) || !d.ReadBool(&a->new_lock_owner)) {
    return false;
  }
  if (a->new_lock_owner) {
    return d.ReadU32(&a->open_seqid) && ReadStateId(d, &a->open_stateid) &&
           d.ReadU32(&a->lock_seqid) && DecodeLockOwner(d, &a->owner_clientid, &a->owner);
  }
  return ReadStateId(d, &a->lock_stateid) && d.ReadU32(&a->lock_seqid);
}

// LOCK4denied.
void EncodeDenied(xdr::Encoder& res, const LockDenied& denied) {
  res.WriteU64(denied.offset);
  res.WriteU64(denied.length);
  res.WriteU32(denied.kind == LockKind::kWrite ? kWriteLt : kReadLt);
  res.WriteU64(denied.clientid);
  res.WriteOpaque(denied.owner);
}

// Locks are taken on regular files only (RFC 8881 §18.10.4: ISDIR, or INVAL for other types).
Stat CheckLockTarget(OpContext& ctx) {
  if (!ctx.current_fh) return Stat::kNoFileHandle;
  if (ctx.current_fh->IsPseudo()) return Stat::kIsDir;
  return Stat::kOk;
}

Awaitable<Stat> ResolveLockTarget(OpContext& ctx, Object* obj) {
  Stat s = co_await ResolveCurrent(ctx, obj);
  if (s != Stat::kOk) co_return s;
  if (obj->is_dir()) co_return Stat::kIsDir;
  if (obj->attr.type != vfs::FileType::kRegular) co_return Stat::kInval;
  co_return Stat::kOk;
}

}  // namespace

// LOCK: RFC 7530 §16.10, RFC 8881 §18.10.
Awaitable<Stat> OpLock(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  LockArgs a;
  if (!DecodeLockArgs(args, &a)) co_return Stat::kBadXdr;
  if (Stat s = CheckLockTarget(ctx); s != Stat::kOk) co_return s;
  // A new lock-owner's LOCK is sequenced by its open-owner, a known one's by itself.
  const auto replayed = a.new_lock_owner
                            ? StateReplay40(ctx, a.open_stateid, false, a.open_seqid, res)
                            : StateReplay40(ctx, a.lock_stateid, true, a.lock_seqid, res);
  if (replayed) co_return *replayed;
  Object file;
  if (Stat s = co_await ResolveLockTarget(ctx, &file); s != Stat::kOk) co_return s;
  StateId out;
  LockDenied denied;
  Stat s = StateLock(ctx, a, file, &out, &denied);
  if (s == Stat::kDenied) EncodeDenied(res, denied);
  if (s != Stat::kOk) co_return s;
  WriteStateId(res, out);
  co_return Stat::kOk;
}

// LOCKT: RFC 7530 §16.11, RFC 8881 §18.11.
Awaitable<Stat> OpLockT(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  LockKind kind = LockKind::kRead;
  uint64_t offset = 0, length = 0, clientid = 0;
  Bytes owner;
  if (!DecodeLockType(args, &kind, nullptr) || !args.ReadU64(&offset) || !args.ReadU64(&length) ||
      !DecodeLockOwner(args, &clientid, &owner)) {
    co_return Stat::kBadXdr;
  }
  if (Stat s = CheckLockTarget(ctx); s != Stat::kOk) co_return s;
  Object file;
  if (Stat s = co_await ResolveLockTarget(ctx, &file); s != Stat::kOk) co_return s;
  LockDenied denied;
  Stat s = StateLockTest(ctx, kind, offset, length, clientid, owner, file, &denied);
  if (s == Stat::kDenied) EncodeDenied(res, denied);
  co_return s;
}

// LOCKU: RFC 7530 §16.12, RFC 8881 §18.12. The lock type is not used (any valid one).
Awaitable<Stat> OpLockU(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  LockKind kind = LockKind::kRead;
  uint32_t seqid = 0;
  StateId stateid;
  uint64_t offset = 0, length = 0;
  if (!DecodeLockType(args, &kind, nullptr) || !args.ReadU32(&seqid) ||
      !ReadStateId(args, &stateid) || !args.ReadU64(&offset) || !args.ReadU64(&length)) {
    co_return Stat::kBadXdr;
  }
  if (Stat s = CheckLockTarget(ctx); s != Stat::kOk) co_return s;
  if (auto replayed = StateReplay40(ctx, stateid, true, seqid, res)) co_return *replayed;
  Object file;
  if (Stat s = co_await ResolveLockTarget(ctx, &file); s != Stat::kOk) co_return s;
  StateId out;
  Stat s = StateLockU(ctx, seqid, stateid, offset, length, file, &out);
  if (s != Stat::kOk) co_return s;
  WriteStateId(res, out);
  co_return Stat::kOk;
}

// RELEASE_LOCKOWNER: RFC 7530 §16.37 (4.0 only). LOCKS_HELD while the owner holds any lock.
Awaitable<Stat> OpReleaseLockOwner(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  uint64_t clientid = 0;
  Bytes owner;
  if (!DecodeLockOwner(args, &clientid, &owner)) co_return Stat::kBadXdr;
  co_return StateReleaseLockOwner(ctx, clientid, owner);
}

}  // namespace bucketfs::nfs
