// Declarations of every NFSv4 op handler (ops_*.cc), referenced by the op table (ops.cc). Each
// follows the OpHandler contract in compound.h. Internal to the nfs library.
#pragma once

#include "nfs/compound.h"

namespace bucketfs::nfs {

#define BFS_NFS_OP(name) Awaitable<Stat> name(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res)

// ops_fh.cc
BFS_NFS_OP(OpPutRootFh);
BFS_NFS_OP(OpPutPubFh);
BFS_NFS_OP(OpPutFh);
BFS_NFS_OP(OpGetFh);
BFS_NFS_OP(OpSaveFh);
BFS_NFS_OP(OpRestoreFh);
BFS_NFS_OP(OpLookup);
BFS_NFS_OP(OpLookupP);
BFS_NFS_OP(OpSecInfo);
BFS_NFS_OP(OpSecInfoNoName);
// ops_attr.cc
BFS_NFS_OP(OpGetAttr);
BFS_NFS_OP(OpAccess);
BFS_NFS_OP(OpVerify);
BFS_NFS_OP(OpNVerify);
// ops_dir.cc
BFS_NFS_OP(OpReadDir);
// ops_read.cc
BFS_NFS_OP(OpRead);
BFS_NFS_OP(OpReadLink);
// ops_session.cc (4.1 client and session state)
BFS_NFS_OP(OpExchangeId);
BFS_NFS_OP(OpCreateSession);
BFS_NFS_OP(OpSequence);
BFS_NFS_OP(OpDestroySession);
BFS_NFS_OP(OpDestroyClientId);
BFS_NFS_OP(OpBindConnToSession);
BFS_NFS_OP(OpReclaimComplete);
BFS_NFS_OP(OpBackchannelCtl);
// ops_client40.cc (4.0 client state)
BFS_NFS_OP(OpSetClientId);
BFS_NFS_OP(OpSetClientIdConfirm);
BFS_NFS_OP(OpRenew);
// ops_open.cc
BFS_NFS_OP(OpOpen);
BFS_NFS_OP(OpOpenConfirm);
BFS_NFS_OP(OpOpenDowngrade);
BFS_NFS_OP(OpClose);
BFS_NFS_OP(OpTestStateId);
BFS_NFS_OP(OpFreeStateId);
BFS_NFS_OP(OpDelegReturn);
BFS_NFS_OP(OpDelegPurge);
// ops_write.cc
BFS_NFS_OP(OpWrite);
BFS_NFS_OP(OpCommit);
BFS_NFS_OP(OpSetAttr);
// ops_namespace.cc
BFS_NFS_OP(OpCreate);
BFS_NFS_OP(OpRemove);
BFS_NFS_OP(OpRename);
BFS_NFS_OP(OpLink);
// ops_v42.cc (minor version 2 only)
BFS_NFS_OP(OpCopy);
BFS_NFS_OP(OpSeek);
BFS_NFS_OP(OpAllocate);
BFS_NFS_OP(OpDeallocate);
// ops_lock.cc
BFS_NFS_OP(OpLock);
BFS_NFS_OP(OpLockT);
BFS_NFS_OP(OpLockU);
BFS_NFS_OP(OpReleaseLockOwner);
// ops_misc.cc: ops refused or accepted trivially
BFS_NFS_OP(OpOpenAttr);
BFS_NFS_OP(OpNotSupp);  // pNFS, directory delegations, SSV, 4.2 ops

#undef BFS_NFS_OP

}  // namespace bucketfs::nfs
