// Operations this read-only slice refuses or accepts trivially: the mutating ops (ROFS), locks,
// and the optional 4.1/4.2 features (pNFS, directory delegations, SSV, 4.2 ops).
#include "nfs/op_util.h"
#include "nfs/ops_handlers.h"

namespace bucketfs::nfs {

// WRITE (RFC 7530 §16.36, RFC 8881 §18.32), CREATE (§16.4/§18.4), REMOVE (§16.26/§18.25),
// RENAME (§16.27/§18.26), LINK (§16.9/§18.9), SETATTR (§16.32/§18.30), COMMIT (§16.3/§18.3),
// OPENATTR (§16.17/§18.17): every export of this slice is read-only → NFS4ERR_ROFS. Arguments are
// not decoded: the COMPOUND stops here anyway.
Awaitable<Stat> OpReadOnlyFs(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  if (!ctx.current_fh) co_return Stat::kNoFileHandle;
  co_return Stat::kRofs;
}

// SETATTR (RFC 7530 §16.32, RFC 8881 §18.30) on a read-only export: ROFS, and SETATTR4res
// carries the attrsset bitmap even on error (empty: nothing was set).
Awaitable<Stat> OpSetAttrReadOnly(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  Bitmap().Encode(res);
  if (!ctx.current_fh) co_return Stat::kNoFileHandle;
  co_return Stat::kRofs;
}

// LOCK (RFC 7530 §16.10, RFC 8881 §18.10) and LOCKT (§16.11/§18.11): byte-range locks come with
// a later change; NFS4ERR_LOCK_NOTSUPP is the RFC's "server does not support locks".
Awaitable<Stat> OpLockNotSupp(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  if (!ctx.current_fh) co_return Stat::kNoFileHandle;
  co_return Stat::kLockNotSupp;
}

// LOCKU (RFC 7530 §16.12, RFC 8881 §18.12): no lock can exist, so no lock stateid is valid.
Awaitable<Stat> OpLockU(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  uint32_t locktype = 0, seqid = 0;
  StateId stateid;
  uint64_t offset = 0, length = 0;
  if (!args.ReadU32(&locktype) || !args.ReadU32(&seqid) || !ReadStateId(args, &stateid) ||
      !args.ReadU64(&offset) || !args.ReadU64(&length)) {
    co_return Stat::kBadXdr;
  }
  if (!ctx.current_fh) co_return Stat::kNoFileHandle;
  co_return Stat::kBadStateId;
}

// RELEASE_LOCKOWNER (RFC 7530 §16.37): no lock owner holds locks; nothing to release.
Awaitable<Stat> OpReleaseLockOwner(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  uint64_t clientid = 0;
  ByteView owner;
  if (!args.ReadU64(&clientid) || !args.ReadOpaque(kNfs4OpaqueLimit, &owner)) {
    co_return Stat::kBadXdr;
  }
  co_return Stat::kOk;
}

// GET_DIR_DELEGATION (RFC 8881 §18.39), GETDEVICEINFO (§18.40), GETDEVICELIST (§18.41),
// LAYOUTCOMMIT/LAYOUTGET/LAYOUTRETURN (§18.42-18.44), SET_SSV (§18.47), WANT_DELEGATION (§18.49)
// and the RFC 7862 (4.2) ops: not implemented → NFS4ERR_NOTSUPP.
Awaitable<Stat> OpNotSupp(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  co_return Stat::kNotSupp;
}

}  // namespace bucketfs::nfs
