// The seams between COMPOUND processing / the data ops and the NFSv4 state machine (state.h):
// stateid checks for I/O, storing 4.1 replies in the session slot, connection teardown.
// Internal to the nfs library; same thread-safety as the StateManager (thread-safe).
#pragma once

#include <cstdint>

#include "base/bytes.h"
#include "nfs/compound.h"
#include "nfs/op_util.h"

namespace bucketfs::nfs {

// Validates the stateid of a READ on `obj` (special stateids included): RFC 8881 §8.2.3,
// RFC 7530 §9.1.4.
Stat CheckReadStateId(OpContext& ctx, const Object& obj, const StateId& stateid);
// After a 4.1 COMPOUND that passed SEQUENCE: hands the encoded COMPOUND4res to the slot.
void StoreSessionReply(OpContext& ctx, ByteView reply);
// Lease reaper tick: expire clients whose lease ran out (RFC 7530 §9.6, RFC 8881 §8.3).
void ReapExpiredState(NfsServer& server);
// A connection closed: drop its session bindings.
void StateConnectionClosed(NfsServer& server, uint64_t connection_id);

}  // namespace bucketfs::nfs
