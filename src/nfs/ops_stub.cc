// TEMPORARY adapter until nfs-state's state.h lands: every state call answers NFS4ERR_NOTSUPP
// (4.0 READ with the anonymous/bypass stateids still works). Replaced by ops_state.cc.
#include "nfs/ops_state.h"

namespace bucketfs::nfs {

Stat StateExchangeId(OpContext&, const ExchangeIdArgs&, ExchangeIdResult*) {
  return Stat::kNotSupp;
}
Stat StateCreateSession(OpContext&, const CreateSessionArgs&, CreateSessionResult*) {
  return Stat::kNotSupp;
}
Stat StateSequence(OpContext&, const SequenceArgs&, SequenceResult*) { return Stat::kBadSession; }
Stat StateDestroySession(OpContext&, const SessionId&) { return Stat::kBadSession; }
Stat StateDestroyClientId(OpContext&, uint64_t) { return Stat::kStaleClientId; }
Stat StateBindConnToSession(OpContext&, const SessionId&) { return Stat::kBadSession; }
Stat StateReclaimComplete(OpContext&, bool) { return Stat::kNotSupp; }
Stat StateSetClientId(OpContext&, const SetClientIdArgs&, uint64_t*, Verifier*) {
  return Stat::kNotSupp;
}
Stat StateSetClientIdConfirm(OpContext&, uint64_t, const Verifier&) { return Stat::kStaleClientId; }
Stat StateRenew(OpContext&, uint64_t) { return Stat::kStaleClientId; }
Stat StateOpen(OpContext&, const OpenArgs&, const Object&, StateId*, bool*) {
  return Stat::kNotSupp;
}
Stat StateOpenConfirm(OpContext&, const StateId&, uint32_t, StateId*) { return Stat::kBadStateId; }
Stat StateOpenDowngrade(OpContext&, const StateId&, uint32_t, uint32_t, uint32_t, StateId*) {
  return Stat::kBadStateId;
}
Stat StateClose(OpContext&, const StateId&, uint32_t, StateId*) { return Stat::kBadStateId; }
Stat StateTestStateId(OpContext&, const StateId&) { return Stat::kBadStateId; }
Stat StateFreeStateId(OpContext&, const StateId&) { return Stat::kBadStateId; }

namespace {
bool AllBytes(const StateId& id, uint8_t v) {
  for (uint8_t b : id.other) {
    if (b != v) return false;
  }
  return true;
}
}  // namespace

// Special stateids (RFC 8881 §8.2.3): anonymous (all zero) and READ bypass (all ones).
Stat CheckReadStateId(OpContext&, const Object&, const StateId& id) {
  if ((id.seqid == 0 && AllBytes(id, 0)) || (id.seqid == 0xffffffff && AllBytes(id, 0xff))) {
    return Stat::kOk;
  }
  return Stat::kBadStateId;
}
void ReapExpiredState(NfsServer&) {}
void StoreSessionReply(OpContext&, ByteView) {}
void StateConnectionClosed(NfsServer&, uint64_t) {}

}  // namespace bucketfs::nfs
