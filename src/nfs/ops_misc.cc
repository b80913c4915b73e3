// Operations refused or accepted trivially: named attributes and the optional 4.1/4.2
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

// GET_DIR_DELEGATION (RFC 8881 §18.39), GETDEVICEINFO (§18.40), GETDEVICELIST (§18.41),
// LAYOUTCOMMIT/LAYOUTGET/LAYOUTRETURN (§18.42-18.44), SET_SSV (§18.47), WANT_DELEGATION (§18.49)
// and the RFC 7862 (4.2) ops other than COPY, SEEK, ALLOCATE, DEALLOCATE: not implemented →
// NFS4ERR_NOTSUPP.
Awaitable<Stat> OpNotSupp(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  co_return Stat::kNotSupp;
}

}  // namespace bucketfs::nfs
