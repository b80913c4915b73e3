// The adapter between the state op handlers (ops_session.cc, ops_client40.cc, ops_open.cc,
// ops_read.cc) and the StateManager: unpacks the OpContext (principal, connection, session,
// current stateid) and calls the state machine.
#include "nfs/ops_state.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "base/log.h"
#include "nfs/callback.h"
#include "nfs/client_records.h"
#include "nfs/nfs_server.h"
#include "nfs/state.h"

namespace bucketfs::nfs {
namespace {

StateManager& State(OpContext& ctx) { return ctx.server->state(); }

// A client owner string for a log line: printable ASCII as is (but '"' and '\\'), other bytes
// as \xNN, at most 128 bytes of it.
std::string PrintableOwner(const Bytes& owner) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < owner.size() && i < 128; ++i) {
    const uint8_t b = owner[i];
    if (b >= 0x20 && b < 0x7f && b != '"' && b != '\\') {
      out += static_cast<char>(b);
    } else {
      out += "\\x";
      out += kHex[b >> 4];
      out += kHex[b & 0xf];
    }
  }
  if (owner.size() > 128) out += "...";
  return out;
}

// Once per client: when its record is first confirmed (SETCLIENTID_CONFIRM, CREATE_SESSION).
void LogClientConfirmed(const OpContext& ctx, uint64_t clientid, const Bytes& owner) {
  const Principal who = Principal::From(*ctx.call);
  BFS_LOG_INFO(
      "nfs: client connected: clientid={:x} minor={} addr={} owner=\"{}\"{}", clientid,
      ctx.minor_version, ctx.call->peer, PrintableOwner(owner),
      who.machine.empty()
          ? std::string()
          : " machine=\"" + PrintableOwner(Bytes(who.machine.begin(), who.machine.end())) + "\"");
}

// RFC 8881 §16.2.3.1.2: the special "current stateid" stands for the COMPOUND's current one.
Stat ResolveStateId(const OpContext& ctx, const StateId& in, StateId* out) {
  if (ctx.minor_version >= 1 && IsCurrentStateId(in)) {
    if (!ctx.current_stateid) return Stat::kBadStateId;
    *out = *ctx.current_stateid;
    return Stat::kOk;
  }
  *out = in;
  return Stat::kOk;
}

uint64_t SessionClient(const OpContext& ctx) { return ctx.session ? ctx.session->clientid : 0; }

// The client an OPEN is for: the session's (4.1), the open-owner's (4.0).
uint64_t OpenClient(const OpContext& ctx, const OpenArgs& args) {
  return ctx.minor_version >= 1 ? SessionClient(ctx) : args.clientid;
}

// A coroutine function, not a lambda: its arguments live in its frame (a capturing lambda
// coroutine would outlive its captures).
Awaitable<void> RemoveClientRecords(std::shared_ptr<ClientRecords> records,
                                    std::vector<Bytes> owners) {
  for (Bytes& owner : owners) {
    Status st = co_await records->Remove(std::move(owner));
    if (!st.ok()) BFS_LOG_WARN("could not remove an NFS client record: {}", st.ToString());
  }
}

}  // namespace

Stat CheckReadStateId(OpContext& ctx, const Object& obj, const StateId& stateid) {
  StateId id;
  if (Stat s = ResolveStateId(ctx, stateid, &id); s != Stat::kOk) return s;
  return State(ctx).CheckIo(ctx.minor_version, id, obj.fh, /*write=*/false);
}

Stat CheckWriteStateId(OpContext& ctx, const Object& obj, const StateId& stateid, bool* special) {
  StateId id;
  if (Stat s = ResolveStateId(ctx, stateid, &id); s != Stat::kOk) return s;
  if (special != nullptr) *special = IsAnonymousStateId(id) || IsReadBypassStateId(id);
  return State(ctx).CheckIo(ctx.minor_version, id, obj.fh, /*write=*/true);
}

void StoreSessionReply(OpContext& ctx, ByteView reply) {
  if (!ctx.session) return;
  State(ctx).CompleteSlot(*ctx.session, ctx.slot_id, reply, ctx.cache_this);
}

Stat StateExchangeId(OpContext& ctx, const ExchangeIdArgs& args, ExchangeIdResult* out) {
  if (args.state_protect == kSp4Ssv) return Stat::kEncrAlgUnsupp;
  return State(ctx).ExchangeId(Principal::From(*ctx.call), args, &out->clientid, &out->sequenceid,
                               &out->flags, ctx.minor_version);
}

Stat StateCreateSession(OpContext& ctx, const CreateSessionArgs& args, CreateSessionResult* out) {
  // CONN_BACK_CHAN is granted when the client offered a credential we can call it with
  // (AUTH_SYS or AUTH_NONE); PERSIST and CONN_RDMA are not (RFC 8881 §18.36.3).
  constexpr uint32_t kKnownFlags = 0x1 | 0x2 | 0x4;  // PERSIST, CONN_BACK_CHAN, CONN_RDMA
  if ((args.flags & ~kKnownFlags) != 0) return Stat::kInval;
  out->flags = (args.flags & kCreateSessionConnBackChan) != 0 && args.cb.usable
                   ? kCreateSessionConnBackChan
                   : 0;
  Bytes owner;
  Stat s =
      State(ctx).CreateSession(Principal::From(*ctx.call), ctx.call->connection_id, args,
                               &out->sessionid, &out->sequenceid, &out->fore, &out->back, &owner);
  if (s == Stat::kOk && !owner.empty()) LogClientConfirmed(ctx, args.clientid, owner);
  return s;
}

Stat StateSequence(OpContext& ctx, const SequenceArgs& args, SequenceResult* out) {
  StateManager::SequenceOutcome o;
  Stat s = State(ctx).Sequence(args.sessionid, args.sequenceid, args.slotid, ctx.op_count,
                               ctx.call->connection_id, &o);
  if (s != Stat::kOk) return s;
  if (o.replay) {
    ctx.replay = std::move(o.replay);
    return Stat::kOk;
  }
  ctx.session = std::move(o.session);
  ctx.slot_id = args.slotid;
  ctx.cache_this = args.cache_this;
  out->highest_slotid = o.highest_slotid;
  out->target_highest_slotid = o.target_highest_slotid;
  out->status_flags = o.status_flags;
  return Stat::kOk;
}

Stat StateDestroySession(OpContext& ctx, const SessionId& sessionid) {
  return State(ctx).DestroySession(sessionid);
}

Stat StateDestroyClientId(OpContext& ctx, uint64_t clientid) {
  return State(ctx).DestroyClientId(clientid);
}

Stat StateBindConnToSession(OpContext& ctx, const SessionId& sessionid, bool back) {
  return State(ctx).BindConnToSession(sessionid, ctx.call->connection_id, back);
}

Stat StateBackchannelCtl(OpContext& ctx, const CallbackSec& cb) {
  if (!ctx.session) return Stat::kOpNotInSession;
  return State(ctx).BackchannelCtl(ctx.session->id, cb);
}

Stat StateReclaimComplete(OpContext& ctx, bool one_fs) {
  if (one_fs) return Stat::kOk;  // per-fs reclaim completion: nothing to reclaim per fs
  return State(ctx).ReclaimComplete(SessionClient(ctx));
}

Stat StateSetClientId(OpContext& ctx, const SetClientIdArgs& args, uint64_t* clientid,
                      Verifier* confirm) {
  return State(ctx).SetClientId(Principal::From(*ctx.call), args, clientid, confirm);
}

Stat StateSetClientIdConfirm(OpContext& ctx, uint64_t clientid, const Verifier& confirm) {
  Bytes owner;
  Stat s = State(ctx).SetClientIdConfirm(clientid, confirm, &owner);
  if (s == Stat::kOk) State(ctx).NoteConnection40(ctx.call->connection_id, clientid);
  if (s == Stat::kOk && !owner.empty()) LogClientConfirmed(ctx, clientid, owner);
  return s;
}

Stat StateRenew(OpContext& ctx, uint64_t clientid) {
  Stat s = State(ctx).Renew(clientid);
  if (s == Stat::kOk || s == Stat::kCbPathDown) {
    State(ctx).NoteConnection40(ctx.call->connection_id, clientid);
  }
  return s;
}

Stat StateOpen(OpContext& ctx, const OpenArgs& args, const Object& file, StateId* stateid,
               bool* confirm) {
  uint64_t clientid = ctx.minor_version == 0 ? args.clientid : SessionClient(ctx);
  Stat s = State(ctx).Open(ctx.minor_version, clientid, args, file.fh, stateid, confirm);
  if (s == Stat::kOk && ctx.minor_version == 0) {
    State(ctx).NoteConnection40(ctx.call->connection_id, clientid);
  }
  return s;
}

Stat StateCheckOpen(OpContext& ctx, const OpenArgs& args, const Object* file) {
  uint64_t clientid = ctx.minor_version == 0 ? args.clientid : SessionClient(ctx);
  return State(ctx).CheckOpen(ctx.minor_version, clientid, args, file ? &file->fh : nullptr);
}

void StateAdvanceOpenSeqid(OpContext& ctx, const OpenArgs& args) {
  State(ctx).AdvanceOpenSeqid(args.clientid, args.owner, args.seqid);
}

std::optional<Stat> StateReplay40(OpContext& ctx, SeqidOwner o, xdr::Encoder& res) {
  if (ctx.minor_version != 0) return std::nullopt;
  if (auto reply = State(ctx).Replay40(o)) {
    res.WriteRaw(reply->body);
    if (reply->fh) ctx.current_fh = *reply->fh;
    return reply->status;
  }
  ctx.seqid_owner = std::move(o);
  return std::nullopt;
}

std::optional<Stat> StateReplay40(OpContext& ctx, const StateId& id, bool lock_owner,
                                  uint32_t seqid, xdr::Encoder& res) {
  if (ctx.minor_version != 0) return std::nullopt;
  auto owner = State(ctx).SeqidOwnerOf(id, lock_owner, seqid);
  if (!owner) return std::nullopt;
  return StateReplay40(ctx, std::move(*owner), res);
}

bool IsSeqidMutating(Stat s) {
  switch (s) {
    case Stat::kStaleClientId:
    case Stat::kStaleStateId:
    case Stat::kBadStateId:
    case Stat::kBadSeqId:
    case Stat::kBadXdr:
    case Stat::kResource:
    case Stat::kNoFileHandle:
    case Stat::kMoved:
      return false;
    default:
      return true;
  }
}

Stat StateOpenConfirm(OpContext& ctx, const StateId& stateid, uint32_t seqid, StateId* out) {
  return State(ctx).OpenConfirm(stateid, seqid, *ctx.current_fh, out);
}

Stat StateOpenDowngrade(OpContext& ctx, const StateId& stateid, uint32_t seqid,
                        uint32_t share_access, uint32_t share_deny, StateId* out) {
  StateId id;
  if (Stat s = ResolveStateId(ctx, stateid, &id); s != Stat::kOk) return s;
  Stat s = State(ctx).OpenDowngrade(ctx.minor_version, id, seqid, share_access, share_deny,
                                    *ctx.current_fh, out);
  if (s == Stat::kOk) ctx.current_stateid = *out;
  return s;
}

Stat StateClose(OpContext& ctx, const StateId& stateid, uint32_t seqid, StateId* out,
                bool* last_open) {
  StateId id;
  if (Stat s = ResolveStateId(ctx, stateid, &id); s != Stat::kOk) return s;
  return State(ctx).Close(ctx.minor_version, id, seqid, *ctx.current_fh, out, last_open);
}

Stat StateTestStateId(OpContext& ctx, const StateId& stateid) {
  return State(ctx).TestStateId(SessionClient(ctx), stateid);
}

Stat StateFreeStateId(OpContext& ctx, const StateId& stateid) {
  StateId id;  // RFC 8881 §16.2.3.1.2: FREE_STATEID may name the current stateid
  if (Stat s = ResolveStateId(ctx, stateid, &id); s != Stat::kOk) return s;
  return State(ctx).FreeStateId(SessionClient(ctx), id);
}

std::optional<StateId> StateOfferDelegation(OpContext& ctx, const OpenArgs& args,
                                            const Object& file, bool needs_confirm) {
  const uint32_t want = args.share_access & kShareWantMask;
  if (!ctx.server->options().delegations) return std::nullopt;
  // A 4.0 open-owner's first OPEN must be confirmed first (RFC 7530 §16.18): no delegation yet.
  if (ctx.minor_version == 0 && needs_confirm) return std::nullopt;
  if (want == kShareWantNoDeleg || want == kShareWantCancel) return std::nullopt;
  if ((args.share_access & kShareAccessMask) != kShareAccessRead) return std::nullopt;
  if (args.claim != ClaimType::kNull && args.claim != ClaimType::kFh) return std::nullopt;
  return State(ctx).GrantReadDelegation(ctx.minor_version, OpenClient(ctx, args), file.fh,
                                        file.attr.change, file.attr.bucket_version);
}

Stat StateBreakDelegations(OpContext& ctx, const FileHandle& file) {
  StateManager& state = State(ctx);
  if (!state.has_delegations()) return Stat::kOk;
  std::vector<Recall> recalls;
  const bool outstanding = state.BreakDelegations(file, SessionClient(ctx), &recalls);
  if (!recalls.empty()) ctx.server->callbacks().Recall(std::move(recalls));
  return outstanding ? Stat::kDelay : Stat::kOk;
}

Stat StateDelegReturn(OpContext& ctx, const StateId& stateid) {
  StateId id;
  if (Stat s = ResolveStateId(ctx, stateid, &id); s != Stat::kOk) return s;
  return State(ctx).DelegReturn(ctx.minor_version, SessionClient(ctx), id, *ctx.current_fh);
}

std::optional<uint64_t> StatePinnedChange(OpContext& ctx, const Object& file) {
  if (file.pseudo() || file.is_dir()) return std::nullopt;
  StateManager& state = State(ctx);
  if (!state.has_delegations()) return std::nullopt;
  // A 4.0 GETATTR names no client: the one that last named itself on this connection.
  const uint64_t clientid = ctx.minor_version >= 1
                                ? SessionClient(ctx)
                                : state.ClientOfConnection40(ctx.call->connection_id);
  if (clientid == 0) return std::nullopt;
  return state.PinnedChange(clientid, file.fh);
}

Stat StateCheckDelegCur(OpContext& ctx, const OpenArgs& args, const Object& file) {
  return State(ctx).CheckDelegCur(ctx.minor_version, OpenClient(ctx, args), args.deleg_stateid,
                                  file.fh);
}

Stat StateLock(OpContext& ctx, const LockArgs& args, const Object& file, StateId* out,
               LockDenied* denied) {
  LockArgs a = args;
  Stat s = ResolveStateId(ctx, args.new_lock_owner ? args.open_stateid : args.lock_stateid,
                          args.new_lock_owner ? &a.open_stateid : &a.lock_stateid);
  if (s != Stat::kOk) return s;
  s = State(ctx).Lock(ctx.minor_version, SessionClient(ctx), a, file.fh, out, denied);
  if (s == Stat::kOk) ctx.current_stateid = *out;
  return s;
}

Stat StateLockTest(OpContext& ctx, LockKind kind, uint64_t offset, uint64_t length,
                   uint64_t clientid, const Bytes& owner, const Object& file, LockDenied* denied) {
  if (ctx.minor_version >= 1) clientid = SessionClient(ctx);  // RFC 8881 §18.11.3
  return State(ctx).LockTest(ctx.minor_version, clientid, kind, offset, length, owner, file.fh,
                             denied);
}

Stat StateLockU(OpContext& ctx, uint32_t seqid, const StateId& stateid, uint64_t offset,
                uint64_t length, const Object& file, StateId* out) {
  StateId id;
  if (Stat s = ResolveStateId(ctx, stateid, &id); s != Stat::kOk) return s;
  Stat s = State(ctx).LockU(ctx.minor_version, seqid, id, offset, length, file.fh, out);
  if (s == Stat::kOk) ctx.current_stateid = *out;
  return s;
}

Stat StateReleaseLockOwner(OpContext& ctx, uint64_t clientid, const Bytes& owner) {
  return State(ctx).ReleaseLockOwner(clientid, owner);
}

Awaitable<void> PersistClientRecord(OpContext& ctx, uint64_t clientid) {
  std::shared_ptr<ClientRecords> records = ctx.server->client_records();
  if (!records) co_return;
  std::optional<Bytes> owner = State(ctx).TakeOwnerToRecord(clientid);
  if (!owner) co_return;
  Status st = co_await records->Add(*owner);
  if (!st.ok()) {
    State(ctx).RecordFailed(*owner);
    BFS_LOG_WARN("could not record NFS client {:x} (it cannot reclaim after a restart): {}",
                 clientid, st.ToString());
  }
}

void ReapExpiredState(NfsServer& server) {
  server.state().ReapExpired();
  std::vector<Bytes> gone = server.state().TakeOwnersToUnrecord();
  std::shared_ptr<ClientRecords> records = server.client_records();
  if (gone.empty() || !records) return;
  asio::co_spawn(server.executor(), RemoveClientRecords(std::move(records), std::move(gone)),
                 asio::detached);
}

void StateConnectionClosed(NfsServer& server, uint64_t connection_id) {
  server.state().ConnectionClosed(connection_id);
}

}  // namespace bucketfs::nfs
