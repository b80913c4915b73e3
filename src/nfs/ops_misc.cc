// Operations refused or accepted trivially: named attributes, locks, and the optional 4.1/4.2
// features (pNFS, directory delegations, SSV, the 4.2 ops other than ops_v42.cc's).
#include "nfs/op_util.h"
#include "nfs/ops_handlers.h"

namespace bucketfs::nfs {

// OPENATTR (RFC 7530 §16.17, RFC 8881 §18.17): named attributes are not supported (the
// named_attr attribute is false) → NFS4ERR_NOTSUPP.
Awaitable<Stat> OpOpenAttr(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  bool createdir = false;
  if (!args.ReadBool(&createdir)) co_return Stat::kBadXdr;
  if (!ctx.current_fh) co_return Stat::kNoFileHandle;
  co_return Stat::kNotSupp;
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
// and the RFC 7862 (4.2) ops other than COPY, SEEK, ALLOCATE, DEALLOCATE: not implemented →
// NFS4ERR_NOTSUPP.
Awaitable<Stat> OpNotSupp(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  co_return Stat::kNotSupp;
}

}  // namespace bucketfs::nfs
