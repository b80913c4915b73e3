// TEMPORARY: state ops until state.h lands.
#include "nfs/op_util.h"
#include "nfs/ops_handlers.h"
#include "nfs/ops_state.h"

namespace bucketfs::nfs {
#define STUB(name)                                                              \
  Awaitable<Stat> name(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) { \
    co_return Stat::kNotSupp;                                                   \
  }
STUB(OpExchangeId)
STUB(OpCreateSession) STUB(OpSequence) STUB(OpDestroySession) STUB(OpDestroyClientId)
    STUB(OpBindConnToSession) STUB(OpReclaimComplete) STUB(OpBackchannelCtl) STUB(OpSetClientId)
        STUB(OpSetClientIdConfirm) STUB(OpRenew) STUB(OpOpen) STUB(OpOpenConfirm)
            STUB(OpOpenDowngrade) STUB(OpClose) STUB(OpTestStateId) STUB(OpFreeStateId)
                STUB(OpDelegReturn) STUB(OpDelegPurge) Stat
    CheckReadStateId(OpContext& ctx, const Object& obj, const StateId& stateid) {
  return Stat::kOk;
}
void ReapExpiredState(NfsServer& server) {}
void StoreSessionReply(OpContext& ctx, ByteView reply) {}
void StateConnectionClosed(NfsServer& server, uint64_t connection_id) {}
}  // namespace bucketfs::nfs
