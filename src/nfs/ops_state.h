// The seams between COMPOUND processing / the data ops and the NFSv4 state machine (state.h):
// stateid checks for I/O, storing 4.1 replies in the session slot, connection teardown.
// Internal to the nfs library; same thread-safety as the StateManager (thread-safe).
#pragma once

#include <cstdint>

#include "base/bytes.h"
#include "nfs/compound.h"
#include "nfs/op_util.h"
#include "nfs/ops_xdr.h"
#include "nfs/state.h"

namespace bucketfs::nfs {

// Validates the stateid of a READ on `obj` (special stateids included): RFC 8881 §8.2.3,
// RFC 7530 §9.1.4.
Stat CheckReadStateId(OpContext& ctx, const Object& obj, const StateId& stateid);
// Validates the stateid of an op that changes `obj`'s data or size (WRITE, SETATTR of size,
// ALLOCATE, DEALLOCATE, the COPY destination): the anonymous stateid, and the READ bypass one
// that stands for it here (RFC 8881 §8.2.3), are accepted (and set *special when given: the
// caller holds no open), and an open stateid without write access is NFS4ERR_OPENMODE (RFC 8881
// §8.2.2, §18.32.3). Permission is the caller's to check (CheckDataAccess).
Stat CheckWriteStateId(OpContext& ctx, const Object& obj, const StateId& stateid,
                       bool* special = nullptr);
// After a 4.1 COMPOUND that passed SEQUENCE: hands the encoded COMPOUND4res to the slot.
void StoreSessionReply(OpContext& ctx, ByteView reply);
// --- Client and session state (the adapter over StateManager, ops_state.cc) ---

struct ExchangeIdResult {
  uint64_t clientid = 0;
  uint32_t sequenceid = 0;
  uint32_t flags = 0;
};
Stat StateExchangeId(OpContext& ctx, const ExchangeIdArgs& args, ExchangeIdResult* out);

struct CreateSessionResult {
  SessionId sessionid{};
  uint32_t sequenceid = 0;
  uint32_t flags = 0;
  ChannelAttrs fore;
  ChannelAttrs back;
};
// Negotiates the channel attributes (clamped to the server's limits) and creates the session.
Stat StateCreateSession(OpContext& ctx, const CreateSessionArgs& args, CreateSessionResult* out);

struct SequenceResult {
  uint32_t highest_slotid = 0;
  uint32_t target_highest_slotid = 0;
  uint32_t status_flags = 0;
};
// Sets ctx.session / slot_id / cache_this, or ctx.replay for a retransmission.
Stat StateSequence(OpContext& ctx, const SequenceArgs& args, SequenceResult* out);
Stat StateDestroySession(OpContext& ctx, const SessionId& sessionid);
Stat StateDestroyClientId(OpContext& ctx, uint64_t clientid);
Stat StateBindConnToSession(OpContext& ctx, const SessionId& sessionid, bool back);
Stat StateBackchannelCtl(OpContext& ctx, const CallbackSec& cb);
Stat StateReclaimComplete(OpContext& ctx, bool one_fs);

// 4.0 clients (RFC 7530 §16.33, §16.34, §16.28).
Stat StateSetClientId(OpContext& ctx, const SetClientIdArgs& args, uint64_t* clientid,
                      Verifier* confirm);
Stat StateSetClientIdConfirm(OpContext& ctx, uint64_t clientid, const Verifier& confirm);
Stat StateRenew(OpContext& ctx, uint64_t clientid);

// Opens. `confirm` is set for a 4.0 open owner that must OPEN_CONFIRM.
Stat StateOpen(OpContext& ctx, const OpenArgs& args, const Object& file, StateId* stateid,
               bool* confirm);
// StateManager::CheckOpen: what OPEN checks before it creates or truncates (`file` may be null).
Stat StateCheckOpen(OpContext& ctx, const OpenArgs& args, const Object* file);
// 4.0: advances the open-owner's seqid for an OPEN that failed past the seqid checks.
void StateAdvanceOpenSeqid(OpContext& ctx, const OpenArgs& args);
// Whether an error still advances a 4.0 owner's seqid: every status but the ones RFC 7530 §9.1.7
// lists (STALE_CLIENTID, STALE_STATEID, BAD_STATEID, BAD_SEQID, BADXDR, RESOURCE, NOFILEHANDLE,
// MOVED).
bool IsSeqidMutating(Stat s);

// 4.0 replay (RFC 7530 §9.1.9): when `o` retransmits its owner's last request, writes that
// request's results to `res`, restores the current filehandle an OPEN set, and returns its
// status; otherwise notes `o` in ctx.seqid_owner (the dispatcher keeps this op's reply) and
// returns nullopt. Nothing for 4.1.
std::optional<Stat> StateReplay40(OpContext& ctx, SeqidOwner o, xdr::Encoder& res);
// The same for an op naming its owner by a stateid: an open stateid (open-owner) or a lock
// stateid (lock-owner); nullopt when the stateid names no owner (the op then fails on it).
std::optional<Stat> StateReplay40(OpContext& ctx, const StateId& id, bool lock_owner,
                                  uint32_t seqid, xdr::Encoder& res);
Stat StateOpenConfirm(OpContext& ctx, const StateId& stateid, uint32_t seqid, StateId* out);
Stat StateOpenDowngrade(OpContext& ctx, const StateId& stateid, uint32_t seqid,
                        uint32_t share_access, uint32_t share_deny, StateId* out);
// *last_open: no client holds `file` open any more.
Stat StateClose(OpContext& ctx, const StateId& stateid, uint32_t seqid, StateId* out,
                bool* last_open);
Stat StateTestStateId(OpContext& ctx, const StateId& stateid);
Stat StateFreeStateId(OpContext& ctx, const StateId& stateid);

// Delegations (RFC 8881 §10.2). The delegation an OPEN may carry: a read delegation when the
// client asked for no write access and nothing conflicts (StateManager::GrantReadDelegation).
// `needs_confirm`: the OPEN answers OPEN4_RESULT_CONFIRM (a new 4.0 open-owner).
std::optional<StateId> StateOfferDelegation(OpContext& ctx, const OpenArgs& args,
                                            const Object& file, bool needs_confirm);
// Before an operation that changes `file` (an OPEN for writing or denying reads, WRITE or
// SETATTR without an open, REMOVE, RENAME, LINK): the delegations other clients hold on it are
// recalled and the operation answers NFS4ERR_DELAY until they are returned or revoked
// (RFC 8881 §10.4.1). NFS4_OK when there are none.
Stat StateBreakDelegations(OpContext& ctx, const FileHandle& file);
Stat StateDelegReturn(OpContext& ctx, const StateId& stateid);
// The change attribute GETATTR shows the caller for `file` (StateManager::PinnedChange).
std::optional<uint64_t> StatePinnedChange(OpContext& ctx, const Object& file);
// OPEN with CLAIM_DELEGATE_CUR / CLAIM_DELEG_CUR_FH: args.deleg_stateid is the caller's
// delegation of `file`.
Stat StateCheckDelegCur(OpContext& ctx, const OpenArgs& args, const Object& file);

// Byte-range locks (ops_lock.cc). The 4.1 session's client stands in for the lock-owner's
// clientid; the current stateid (4.1) is resolved and, after LOCK and LOCKU, updated.
Stat StateLock(OpContext& ctx, const LockArgs& args, const Object& file, StateId* out,
               LockDenied* denied);
Stat StateLockTest(OpContext& ctx, LockKind kind, uint64_t offset, uint64_t length,
                   uint64_t clientid, const Bytes& owner, const Object& file, LockDenied* denied);
Stat StateLockU(OpContext& ctx, uint32_t seqid, const StateId& stateid, uint64_t offset,
                uint64_t length, const Object& file, StateId* out);
Stat StateReleaseLockOwner(OpContext& ctx, uint64_t clientid, const Bytes& owner);

// After a client is confirmed (SETCLIENTID_CONFIRM, CREATE_SESSION): persists its record, once,
// so that it may reclaim after a restart. A failure is logged (the client then cannot reclaim).
Awaitable<void> PersistClientRecord(OpContext& ctx, uint64_t clientid);

// Lease reaper tick: expire clients whose lease ran out (RFC 7530 §9.6, RFC 8881 §8.3), and
// remove the records of clients that are gone.
void ReapExpiredState(NfsServer& server);
// A connection closed: drop its session bindings.
void StateConnectionClosed(NfsServer& server, uint64_t connection_id);

}  // namespace bucketfs::nfs
