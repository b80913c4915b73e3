// COMPOUND processing (RFC 7530 §15.2, RFC 8881 §16.2) and the contract every operation handler
// follows.
//
// The Nfs4Program (nfs4_program.h) decodes the COMPOUND header, then for each operation looks up
// its handler in the op table (ops.h) and calls it with an OpContext. A handler decodes its own
// arguments from `args` (on failure: return Stat::kBadXdr), does its work, and encodes ONLY its
// result body into `res` (everything after the nfsstat4 for that op: for a failing op usually
// nothing, except where the RFC defines a body on error, e.g. LOCK denied, SETCLIENTID
// CLID_INUSE). The dispatcher writes the op number and status itself and stops at the first
// non-OK status.
//
// An OpContext lives for one COMPOUND and is used by one coroutine at a time (not thread-safe).
// Shared server state (exports, NFSv4 client/session/open state) is reached through `server`, and
// is thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "base/async.h"
#include "base/bytes.h"
#include "nfs/filehandle.h"
#include "nfs/nfs4_const.h"
#include "rpc/program.h"
#include "rpc/xdr.h"

namespace bucketfs::nfs {

class NfsServer;  // nfs_server.h: owns exports view, StateManager, config
class Session;    // state.h

// A 4.0 open-owner (lock_owner false) or lock-owner and the seqid one of its requests carried
// (RFC 7530 §9.1.7).
struct SeqidOwner {
  bool lock_owner = false;
  uint64_t clientid = 0;
  Bytes owner;
  uint32_t seqid = 0;
};

// stateid4 (RFC 8881 §3.3.12).
struct StateId {
  uint32_t seqid = 0;
  uint8_t other[kNfs4OtherSize] = {};
  friend bool operator==(const StateId&, const StateId&) = default;
};

struct OpContext {
  NfsServer* server = nullptr;
  const rpc::CallContext* call = nullptr;
  uint32_t minor_version = 0;

  // Current and saved filehandles (RFC 8881 §16.2.3.1.1). Unset = NFS4ERR_NOFILEHANDLE.
  std::optional<FileHandle> current_fh;
  std::optional<FileHandle> saved_fh;
  // Current and saved stateid for 4.1 (RFC 8881 §16.2.3.1.2).
  std::optional<StateId> current_stateid;
  std::optional<StateId> saved_stateid;

  // 4.1: the session established by a leading SEQUENCE op in this COMPOUND (null for 4.0 or
  // before SEQUENCE). Holding the shared_ptr keeps the session alive for the COMPOUND.
  std::shared_ptr<Session> session;
  uint32_t slot_id = 0;
  bool cache_this = false;  // sa_cachethis from SEQUENCE
  // Set by SEQUENCE when the request retransmits the slot's last request (RFC 8881 §2.10.6.1):
  // the dispatcher then sends these bytes (the whole encoded COMPOUND4res) and executes nothing.
  std::shared_ptr<const Bytes> replay;

  // 4.0: the owner and seqid of the seqid-bearing op being executed (set by its handler); the
  // dispatcher keeps the op's reply for a retransmission (StateManager::RememberReply40).
  std::optional<SeqidOwner> seqid_owner;

  // Position of the current op within the COMPOUND (0-based) and the total count; some ops must
  // be first or only (SEQUENCE, EXCHANGE_ID, ...).
  uint32_t op_index = 0;
  uint32_t op_count = 0;
};

// Every op handler has this signature. Return Stat::kOk on success.
using OpHandler = Awaitable<Stat> (*)(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res);

}  // namespace bucketfs::nfs
