// StateManager: NFSv4 server state — clients (4.0 SETCLIENTID and 4.1 EXCHANGE_ID records),
// 4.1 sessions with their slot tables, reply caches and back channels, open-owners, opens with
// share reservations, byte-range locks (state_lock.cc), read delegations (state_deleg.cc),
// leases, and the restart grace period (state_grace.cc).
//
// State lives in memory; what survives a restart is the list of clients (ClientRecords, kept by
// the caller), so that they may reclaim opens and locks in the grace period. Clientids, stateids
// and sessionids carry a boot epoch, so ones from an earlier instance are answered STALE_* /
// BADSESSION. Delegations are not reclaimed (a restarted gateway has recalled nothing).
//
// Thread-safety: every method is thread-safe (one mutex, held only for the in-memory work, never
// across a co_await). Sessions are shared_ptr so a COMPOUND keeps its session alive; their mutable
// fields are guarded by the StateManager's mutex.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "nfs/compound.h"
#include "nfs/filehandle.h"
#include "nfs/lock_table.h"
#include "nfs/nfs4_const.h"
#include "nfs/ops_xdr.h"
#include "rpc/program.h"

namespace bucketfs::nfs {

using StateClock = std::function<std::chrono::steady_clock::time_point()>;

// Who is asking: compared to detect a different principal reusing a client owner.
struct Principal {
  rpc::AuthFlavor flavor = rpc::AuthFlavor::kNone;
  uint32_t uid = 0;
  std::string machine;
  static Principal From(const rpc::CallContext& call);
  friend bool operator==(const Principal&, const Principal&) = default;
};

// One 4.1 session (RFC 8881 §2.10). Fields are guarded by the StateManager mutex.
class Session {
 public:
  struct Slot {
    uint32_t seqid = 0;
    bool in_use = false;
    std::shared_ptr<const Bytes> reply;  // cached COMPOUND4res of the last request, if kept
  };
  SessionId id{};
  uint64_t clientid = 0;
  ChannelAttrs fore;
  ChannelAttrs back;
  std::vector<Slot> slots;
  std::set<uint64_t> connections;
  // Back channel (RFC 8881 §2.10.3.1): connections the client offered for callbacks (the
  // CREATE_SESSION connection with CONN_BACK_CHAN, BIND_CONN_TO_SESSION to the back or both
  // channels), how to call it (BACKCHANNEL_CTL may change that), and the sequenceid of the
  // single back-channel slot the server uses.
  std::set<uint64_t> back_connections;
  CallbackSec cb;
  uint32_t cb_seqid = 0;
};

// A CB_RECALL the server has to send (StateManager::BreakDelegations).
struct Recall {
  StateId stateid;
  FileHandle file;
  uint64_t clientid = 0;
};

// The NFSv4.0 callback path of a client (RFC 7530 §3.3.1, §16.33.1): the program and universal
// address SETCLIENTID named, and whether the CB_NULL probe of them succeeded.
struct Callback40 {
  uint32_t program = 0;
  std::string netid;   // "tcp" or "tcp6"
  std::string addr;    // universal address, "h1.h2.h3.h4.p1.p2"
  uint32_t ident = 0;  // callback_ident: sent in every CB_COMPOUND
  // Bumped whenever the path changes, so that the result of a probe of an older one is ignored.
  uint64_t version = 0;
  bool up = false;
};

// Where a callback to a client goes: for 4.1, one of its sessions' back connections; for 4.0, a
// connection the server opens to the address the client gave (minor == 0: cb40 is set).
struct CallbackPath {
  SessionId session{};
  uint64_t connection = 0;
  CallbackSec cb;
  uint32_t seqid = 0;  // CB_SEQUENCE sequenceid to send on slot 0
  uint32_t minor = 1;  // the client's minor version: CB_COMPOUND's minorversion
  Callback40 cb40;     // when minor == 0
};

// The reply of an owner's last seqid-bearing request (RFC 7530 §9.1.9).
struct CachedReply {
  Stat status = Stat::kOk;
  Bytes body;                    // the op's results after its status
  std::optional<FileHandle> fh;  // OPEN: the current filehandle it set
};

// LOCK4args (RFC 7530 §16.10.1, RFC 8881 §18.10.1), decoded (ops_lock.cc).
struct LockArgs {
  LockKind kind = LockKind::kRead;
  bool blocking = false;  // READW_LT / WRITEW_LT
  bool reclaim = false;
  uint64_t offset = 0;
  uint64_t length = 0;
  bool new_lock_owner = false;
  // new_lock_owner: open_to_lock_owner4.
  uint32_t open_seqid = 0;
  StateId open_stateid;
  uint64_t owner_clientid = 0;  // lock_owner4.clientid (4.0; 4.1 uses the session's client)
  Bytes owner;
  // !new_lock_owner: exist_lock_owner4.
  StateId lock_stateid;
  uint32_t lock_seqid = 0;  // both arms
};

// LOCK4denied (RFC 7530 §16.10.1): the conflicting lock.
struct LockDenied {
  uint64_t offset = 0;
  uint64_t length = 0;
  LockKind kind = LockKind::kRead;
  uint64_t clientid = 0;
  Bytes owner;
};

// Special stateids (RFC 8881 §8.2.3).
bool IsAnonymousStateId(const StateId& id);
bool IsReadBypassStateId(const StateId& id);
bool IsCurrentStateId(const StateId& id);  // 4.1: seqid 1, other all zero

struct StateLimits {
  // Outstanding delegations, all clients together (each delegated file costs a HEAD per
  // metadata TTL: NfsServer checks them against the bucket).
  std::size_t max_delegations = 1000;
  uint32_t max_request_size = (1u << 20) + 64 * 1024;
  uint32_t max_response_size = (1u << 20) + 64 * 1024;
  uint32_t max_response_size_cached = 64 * 1024;
  uint32_t max_operations = 128;
  uint32_t max_slots = 64;
  // Courteous server (as Linux nfsd since 5.19): a client whose lease ran out keeps its opens,
  // locks and delegations until another client's request conflicts with them, for at most
  // `courtesy` after its last renewal, and at most `max_courtesy_clients` such clients at once
  // (the longest silent go first). A client that comes back within that time finds its state.
  std::chrono::seconds courtesy = std::chrono::hours(24);
  std::size_t max_courtesy_clients = 1024;
};

class StateManager {
 public:
  StateManager(std::chrono::seconds lease, StateLimits limits, StateClock clock = nullptr);

  std::chrono::seconds lease() const { return lease_; }
  // Server boot verifier (EXCHANGE_ID eir_server_owner minor id, write verifier later).
  const Verifier& boot_verifier() const { return boot_verifier_; }

  // --- 4.1 clients and sessions ---
  // RFC 8881 §18.35.
  // `minor`: the COMPOUND's minor version (1 or 2), which callbacks to the client then use.
  Stat ExchangeId(const Principal& who, const ExchangeIdArgs& args, uint64_t* clientid,
                  uint32_t* sequenceid, uint32_t* flags, uint32_t minor = 1);
  // RFC 8881 §18.36. `connection` is bound to the new session. When this call confirms the
  // client (its first session), `*confirmed_owner` (if given) gets the client's owner string.
  Stat CreateSession(const Principal& who, uint64_t connection, const CreateSessionArgs& args,
                     SessionId* id, uint32_t* sequenceid, ChannelAttrs* fore, ChannelAttrs* back,
                     Bytes* confirmed_owner = nullptr);
  // RFC 8881 §18.46. On a new request sets *session and marks the slot busy until
  // CompleteSlot(); on a retransmission with a cached reply sets *replay instead.
  struct SequenceOutcome {
    std::shared_ptr<Session> session;
    std::shared_ptr<const Bytes> replay;
    uint32_t highest_slotid = 0;
    uint32_t target_highest_slotid = 0;
    uint32_t status_flags = 0;  // sr_status_flags (SEQ4_STATUS_*)
  };
  Stat Sequence(const SessionId& id, uint32_t seqid, uint32_t slotid, uint32_t op_count,
                uint64_t connection, SequenceOutcome* out);
  // Ends the request on `slot`: keeps `reply` for retransmissions when `cache` (RFC 8881
  // §2.10.6.1.3), and frees the slot.
  void CompleteSlot(Session& session, uint32_t slot, ByteView reply, bool cache);
  Stat DestroySession(const SessionId& id);  // RFC 8881 §18.37
  Stat DestroyClientId(uint64_t clientid);   // RFC 8881 §18.50
  // RFC 8881 §18.34: binds `connection` to the fore channel, and to the back channel when `back`.
  Stat BindConnToSession(const SessionId& id, uint64_t connection, bool back = false);
  // RFC 8881 §18.33: new callback program and security for the session's back channel.
  Stat BackchannelCtl(const SessionId& id, const CallbackSec& cb);
  Stat ReclaimComplete(uint64_t clientid);  // RFC 8881 §18.51

  // --- 4.0 clients ---
  // RFC 7530 §16.33.
  Stat SetClientId(const Principal& who, const SetClientIdArgs& args, uint64_t* clientid,
                   Verifier* confirm);
  // RFC 7530 §16.34. When this call confirms a new client record, `*confirmed_owner` (if given)
  // gets the client's owner string.
  Stat SetClientIdConfirm(uint64_t clientid, const Verifier& confirm,
                          Bytes* confirmed_owner = nullptr);
  // RFC 7530 §16.28: also NFS4ERR_CB_PATH_DOWN when the client holds delegations and its
  // callback path is down (§16.28.4).
  Stat Renew(uint64_t clientid);
  // The confirmed 4.0 client's callback path, whether it is up or not (for the CB_NULL probe);
  // nullopt when it named none.
  std::optional<CallbackPath> CallbackPath40(uint64_t clientid) const;
  // The CB_NULL probe of version `version` of the client's callback path succeeded (`up`) or not.
  void SetCallbackUp(uint64_t clientid, uint64_t version, bool up);
  // Whether `clientid` is still a client (confirmed or not).
  bool HasClient(uint64_t clientid) const;
  // 4.0 requests without a clientid (GETATTR, READ, ...) are attributed to the client that last
  // named itself (SETCLIENTID_CONFIRM, RENEW, OPEN) on their TCP connection (0: none).
  void NoteConnection40(uint64_t connection, uint64_t clientid);
  uint64_t ClientOfConnection40(uint64_t connection) const;

  // --- Opens (RFC 7530 §16.16-§16.19, RFC 8881 §18.16-§18.18, §18.2) ---
  // `minor` selects 4.0 open-owner seqid rules. `clientid` is the 4.0 argument or the 4.1
  // session's client.
  Stat Open(uint32_t minor, uint64_t clientid, const OpenArgs& args, const FileHandle& file,
            StateId* stateid, bool* confirm);
  // The checks of Open() that come before any change to the file system (an OPEN that creates
  // or truncates must fail before it touches the file): the client, the 4.0 open-owner seqid,
  // and, when `file` is given, share reservations of other owners. Changes nothing; Open()
  // checks again.
  Stat CheckOpen(uint32_t minor, uint64_t clientid, const OpenArgs& args, const FileHandle* file);
  // 4.0: an OPEN by a confirmed open-owner that failed after its seqid was due still counts
  // (RFC 7530 §9.1.7): takes `seqid` as the owner's last when it is the next one.
  void AdvanceOpenSeqid(uint64_t clientid, const Bytes& owner, uint32_t seqid);
  Stat OpenConfirm(const StateId& id, uint32_t seqid, const FileHandle& file, StateId* out);
  Stat OpenDowngrade(uint32_t minor, const StateId& id, uint32_t seqid, uint32_t access,
                     uint32_t deny, const FileHandle& file, StateId* out);
  // *last_open (when given) tells whether that was the last open of `file` by any client.
  Stat Close(uint32_t minor, const StateId& id, uint32_t seqid, const FileHandle& file,
             StateId* out, bool* last_open = nullptr);
  Stat TestStateId(uint64_t clientid, const StateId& id);  // RFC 8881 §18.48
  Stat FreeStateId(uint64_t clientid, const StateId& id);  // RFC 8881 §18.38
  // Validates a stateid for READ (write=false) or WRITE on `file` (RFC 8881 §8.2.2).
  Stat CheckIo(uint32_t minor, const StateId& id, const FileHandle& file, bool write);

  // --- 4.0 replay of seqid-bearing requests (RFC 7530 §9.1.9; state.cc) ---
  // A retransmitted OPEN, OPEN_CONFIRM, OPEN_DOWNGRADE, CLOSE, LOCK or LOCKU (the owner's last
  // seqid again) gets the reply the original got, without being executed again. The owner keeps
  // the reply of its last seqid-bearing request; the stateid of an open its owner closed keeps
  // naming that owner (for a retransmitted CLOSE), for the last kMaxClosedOpens closes.
  static constexpr std::size_t kMaxClosedOpens = 4096;
  std::optional<SeqidOwner> SeqidOwnerOf(const StateId& id, bool lock_owner, uint32_t seqid) const;
  // The reply to send again when `o.seqid` is the owner's last seqid and that reply is kept.
  std::shared_ptr<const CachedReply> Replay40(const SeqidOwner& o) const;
  // After a seqid-bearing 4.0 request whose `status` uses up the seqid (every status but the few
  // RFC 7530 §9.1.7 lists; the caller checks): the owner's seqid becomes o.seqid if the operation
  // failed before advancing it, and `body` (the op's results after its status) and `fh` (an
  // OPEN's file, the current filehandle it set) are kept for a retransmission.
  void RememberReply40(const SeqidOwner& o, Stat status, ByteView body,
                       std::optional<FileHandle> fh);

  // --- Byte-range locks (RFC 7530 §9, §16.10-§16.12, §16.37; RFC 8881 §9, §18.10-§18.12) ---
  // LOCK: `clientid` is the 4.1 session's client (ignored for 4.0, which names it in the
  // lock-owner). On NFS4ERR_DENIED fills *denied.
  Stat Lock(uint32_t minor, uint64_t clientid, const LockArgs& args, const FileHandle& file,
            StateId* out, LockDenied* denied);
  // LOCKT: tests without creating any state.
  Stat LockTest(uint32_t minor, uint64_t clientid, LockKind kind, uint64_t offset, uint64_t length,
                const Bytes& owner, const FileHandle& file, LockDenied* denied);
  Stat LockU(uint32_t minor, uint32_t seqid, const StateId& id, uint64_t offset, uint64_t length,
             const FileHandle& file, StateId* out);
  Stat ReleaseLockOwner(uint64_t clientid, const Bytes& owner);  // RFC 7530 §16.37
  std::size_t lock_count() const;

  // --- Delegations (RFC 8881 §10.2, §10.4; state_deleg.cc) ---
  // Read delegations only (a write delegation would let a client cache writes the bucket does
  // not see). Granted to 4.1 clients with a working back channel, and to 4.0 clients whose
  // callback path answered the CB_NULL probe, for a read-only OPEN of a file
  // nobody has open for writing, outside the grace period, not within a lease of a recall of
  // that file. `change` is the file's change attribute now (a later change in the bucket
  // recalls it). Returns the delegation stateid, or nullopt.
  // `bucket_version` (vfs::Attr) is the file's count of changes seen in the bucket: the periodic
  // check recalls the delegation when it moves (DelegatedFiles).
  std::optional<StateId> GrantReadDelegation(uint32_t minor, uint64_t clientid,
                                             const FileHandle& file, uint64_t change,
                                             uint64_t bucket_version = 0);
  // The delegations of `file` held by clients other than `breaker` (0: no client, e.g. a 4.0
  // caller) that an operation changing the file must wait for. Those not yet recalled are marked
  // recalled now and appended to *to_recall (the caller sends the CB_RECALLs). Returns true when
  // any is outstanding: the operation answers NFS4ERR_DELAY and the client retries.
  // `external`: the file already changed in the bucket behind the gateway. Then, until the
  // holder returns the delegation, its GETATTRs of the file keep showing the change attribute of
  // the grant (PinnedChange): a Linux client re-opens and re-reads the attributes while it still
  // holds a delegation being returned, and one that saw the new change attribute then would
  // take it without dropping its cached pages. After DELEGRETURN its next open sees the change.
  bool BreakDelegations(const FileHandle& file, uint64_t breaker, std::vector<Recall>* to_recall,
                        bool external = false);
  // The change attribute to show `clientid` for `file` while its delegation of it is recalled
  // because of a change in the bucket (see BreakDelegations).
  std::optional<uint64_t> PinnedChange(uint64_t clientid, const FileHandle& file) const;
  bool has_delegations() const;
  // DELEGRETURN (RFC 8881 §18.6).
  Stat DelegReturn(uint32_t minor, uint64_t clientid, const StateId& id, const FileHandle& file);
  // OPEN with CLAIM_DELEGATE_CUR / CLAIM_DELEG_CUR_FH: the client's delegation of `file`.
  Stat CheckDelegCur(uint32_t minor, uint64_t clientid, const StateId& id, const FileHandle& file);
  // The path to call `clientid` on: for 4.1 a back channel, taking the next CB_SEQUENCE
  // sequenceid of it; for 4.0 its callback address once the probe succeeded. nullopt when the
  // client has none.
  std::optional<CallbackPath> TakeCallbackPath(uint64_t clientid);
  // A recall that could not be delivered: the delegation is revoked at once, so the operation
  // waiting for it goes ahead (the client learns it from SEQUENCE and TEST_STATEID).
  void RevokeDelegation(const StateId& id);
  // Every delegated file with its change attribute at grant (for the check against the bucket).
  struct DelegatedFile {
    FileHandle file;
    uint64_t bucket_version = 0;  // at grant
  };
  std::vector<DelegatedFile> DelegatedFiles() const;

  // --- Restart recovery (RFC 7530 §9.6.2, RFC 8881 §8.4.2) ---
  // Starts a grace period of `duration` in which the clients whose owners are in `owners` (the
  // records the previous instance persisted) may reclaim opens (CLAIM_PREVIOUS) and locks
  // (reclaim); other OPENs and LOCKs get NFS4ERR_GRACE. Without owners there is no grace. The
  // grace period ends early once every such 4.1 client has sent RECLAIM_COMPLETE.
  void BeginGrace(const std::vector<Bytes>& owners, std::chrono::seconds duration);
  bool InGrace() const;
  // The owner of confirmed client `clientid` when it has no persisted record yet: the caller
  // persists it (ClientRecords::Add). Marks it recorded; RecordFailed() takes that back.
  std::optional<Bytes> TakeOwnerToRecord(uint64_t clientid);
  void RecordFailed(const Bytes& owner);
  // Owners whose records should go (ClientRecords::Remove): clients whose lease expired or that
  // were destroyed, and previous clients that did not come back during the grace period.
  std::vector<Bytes> TakeOwnersToUnrecord();

  // Drops clients whose lease ran out, with their sessions and opens (RFC 8881 §8.3), except
  // those kept as courtesy clients (StateLimits::courtesy): a conflict with their state expires
  // them when it happens. Returns how many clients were dropped.
  std::size_t ReapExpired();
  void ConnectionClosed(uint64_t connection);

  std::size_t client_count() const;
  // A snapshot of the tables, for metrics and `bucketfs status`.
  struct Counts {
    std::size_t clients = 0;           // confirmed, lease current
    std::size_t courtesy_clients = 0;  // confirmed, lease expired, state kept (see StateLimits)
    std::size_t sessions = 0;
    std::size_t opens = 0;
    std::size_t lock_stateids = 0;
    std::size_t locks = 0;  // byte ranges held
    std::size_t delegations = 0;
    bool in_grace = false;
  };
  Counts counts() const;

 private:
  struct Client {
    uint64_t clientid = 0;
    Bytes owner;
    Verifier verifier{};
    Principal principal;
    bool confirmed = false;
    uint32_t minor = 0;
    // 4.1 CREATE_SESSION sequencing (RFC 8881 §18.36.4).
    uint32_t cs_sequence = 1;
    bool cs_cached = false;
    SessionId cs_session{};
    ChannelAttrs cs_fore, cs_back;
    // 4.0 confirm verifiers (RFC 7530 §16.33.5).
    Verifier confirm{};
    bool pending_update = false;
    Verifier pending_confirm{};
    // 4.0 callback path; the one of a pending update takes over at its confirm.
    Callback40 cb40;
    Callback40 pending_cb40;
    bool reclaim_complete = false;
    std::chrono::steady_clock::time_point renewed;
    // Delegations revoked (not returned in time, or not recallable): the client is told by
    // SEQUENCE (RECALLABLE_STATE_REVOKED) until it frees them (FREE_STATEID).
    std::set<std::array<uint8_t, kNfs4OtherSize>> revoked;
  };
  struct OpenOwner {
    uint32_t seqid = 0;
    bool confirmed = false;
    std::shared_ptr<const CachedReply> reply;  // of the request with `seqid` (4.0)
  };
  struct OpenState {
    StateId stateid;
    uint64_t clientid = 0;
    Bytes owner;
    FileHandle file;
    uint32_t access = 0;
    uint32_t deny = 0;
    // Bit (1 << v) for each share_access / share_deny value v an OPEN of this stateid asked for:
    // OPEN_DOWNGRADE may only return to a union of them (RFC 7530 §9.9).
    uint8_t access_seen = 0;
    uint8_t deny_seen = 0;
  };
  using OwnerKey = std::pair<uint64_t, Bytes>;
  using OtherKey = std::array<uint8_t, kNfs4OtherSize>;
  struct LockOwner {
    uint64_t id = 0;                           // the owner's id in lock_table_
    uint32_t seqid = 0;                        // 4.0 lock-owner sequencing
    std::shared_ptr<const CachedReply> reply;  // of the request with `seqid` (4.0)
  };
  // One lock stateid: a lock-owner's locks on one file, derived from one open (RFC 8881 §8.2.4).
  struct LockState {
    StateId stateid;
    uint64_t clientid = 0;
    OwnerKey owner;  // the lock-owner
    uint64_t owner_id = 0;
    FileHandle file;
    OtherKey open{};  // the open stateid it came from
  };

  struct DelegState {
    StateId stateid;
    uint64_t clientid = 0;
    FileHandle file;
    uint64_t change = 0;          // the file's change attribute at grant
    uint64_t bucket_version = 0;  // the file's vfs::Attr::bucket_version at grant
    std::optional<std::chrono::steady_clock::time_point> recalled_at;
    bool external_change = false;  // recalled because the file changed in the bucket
  };

  uint64_t NewClientId();
  StateId NewStateId();
  Client* FindClient(uint64_t clientid);
  Client* FindByOwner(const Bytes& owner, bool confirmed);
  Client& AddUnconfirmed(const Bytes& owner, const Verifier& verifier, const Principal& who,
                         uint32_t minor);
  void RemoveClient(uint64_t clientid);
  // Removes a known client whose lease ended, and queues its record for removal.
  void ExpireClient(uint64_t clientid);
  // Remembers the stateid `other` of state removed with its client (see expired_).
  void RememberExpired(const OtherKey& k);
  // Looks `id` up in `table` (opens_ or locks_): STALE_STATEID for another instance's stateid,
  // BAD_STATEID for an unknown one, OLD_/BAD_STATEID for a wrong generation (in 4.1 seqid 0
  // stands for the current one, RFC 8881 §8.2.2).
  template <typename T>
  Stat FindState(std::map<OtherKey, T>& table, uint32_t minor, const StateId& id, T** out);
  Stat FindOpen(uint32_t minor, const StateId& id, OpenState** open) {
    return FindState(opens_, minor, id, open);
  }
  Stat FindLock(uint32_t minor, const StateId& id, LockState** lock) {
    return FindState(locks_, minor, id, lock);
  }
  // The open an I/O stateid stands for: an open stateid or a lock stateid's open.
  Stat FindIoOpen(uint32_t minor, const StateId& id, OpenState** open);
  Stat LockNewOwner(uint32_t minor, uint64_t clientid, const LockArgs& args, const FileHandle& file,
                    LockState** lock);
  Stat LockExistingOwner(uint32_t minor, const LockArgs& args, const FileHandle& file,
                         LockState** lock);
  void FillDenied(const LockConflict& c, LockDenied* denied) const;
  bool InGraceLocked() const;
  // Whether `c` may reclaim now: OK, NO_GRACE (no grace period, or its RECLAIM_COMPLETE came) or
  // RECLAIM_BAD (it held no state in the previous instance).
  Stat ReclaimAllowed(const Client& c) const;
  // The grace rules of an OPEN with `claim` by `c`.
  Stat CheckGrace(uint32_t minor, const Client& c, ClaimType claim) const;
  // After the grace period: previous owners that did not come back lose their records.
  void EndGraceIfOver();
  // Queues the record of `owner` for removal unless another client record still uses it.
  void Unrecord(const Bytes& owner);
  void DropLockState(const OtherKey& key);
  // Delegations recalled more than a lease ago and not returned are revoked (RFC 8881 §10.4.6).
  void RevokeOverdueDelegations();
  void RevokeLocked(std::map<OtherKey, DelegState>::iterator it);
  static CallbackPath Path40(const Client& c);
  Stat FindDeleg(uint32_t minor, const StateId& id, DelegState** d) {
    return FindState(delegs_, minor, id, d);
  }
  bool IsRevoked(const StateId& id) const;
  // Lock stateids derived from `open` go with it (CLOSE, lease expiry), and their locks too.
  void DropLocksOfOpen(const OtherKey& open);
  Stat CheckOwnerSeqid(uint32_t minor, const OpenState& open, uint32_t seqid);
  // The client of an open that conflicts with `mine` asking for `access` / `deny`, if any.
  std::optional<uint64_t> ShareConflictWith(const OpenState& mine, uint32_t access,
                                            uint32_t deny) const;
  // Whether an open conflicts, after expiring courtesy clients whose opens do.
  bool ShareConflict(const OpenState& mine, uint32_t access, uint32_t deny);
  // Whether an open of `file` denies the access a special-stateid READ (or WRITE) asks for,
  // after expiring courtesy clients whose opens do.
  bool DeniedToSpecialStateId(const FileHandle& file, bool write);
  // Courteous server: whether `clientid`'s lease ran out.
  bool LeaseExpired(const Client& c) const { return Now() - c.renewed > lease_; }
  // Expires `clientid` when it is a courtesy client other than `requester` (its state stands in
  // the way of another client's request). Returns whether it did.
  bool ExpireCourtesyClient(uint64_t clientid, uint64_t requester);
  // The client of lock-table owner `owner_id` (0 when unknown).
  uint64_t ClientOfLockOwner(uint64_t owner_id) const;
  // A conflicting lock of another owner, after expiring courtesy clients whose locks conflict.
  std::optional<LockConflict> TestLock(const LockFile& file, uint64_t owner_id, LockKind kind,
                                       const LockRange& range, bool honor_waiters,
                                       uint64_t requester);
  bool HoldsState(uint64_t clientid) const;
  ChannelAttrs Clamp(const ChannelAttrs& asked, bool fore) const;
  std::chrono::steady_clock::time_point Now() const { return clock_(); }

  const std::chrono::seconds lease_;
  const StateLimits limits_;
  const StateClock clock_;
  const uint32_t epoch_;
  Verifier boot_verifier_{};

  mutable std::mutex mu_;
  uint64_t next_id_ = 1;
  uint64_t next_cb_version_ = 1;
  std::map<uint64_t, Client> clients_;
  std::map<SessionId, std::shared_ptr<Session>> sessions_;
  std::map<OwnerKey, OpenOwner> owners_;
  std::map<OtherKey, OpenState> opens_;
  std::map<OwnerKey, LockOwner> lock_owners_;
  std::map<OtherKey, LockState> locks_;
  std::map<OtherKey, DelegState> delegs_;
  std::map<uint64_t, uint64_t> conn_client40_;  // connection → 4.0 client (NoteConnection40)
  // 4.0: the owners of the last kMaxClosedOpens opens closed, oldest first (SeqidOwnerOf).
  std::map<OtherKey, OwnerKey> closed_owner_;
  std::deque<OtherKey> closed_order_;
  // The stateids of the last kMaxExpiredStateIds states that went with their client (lease
  // expiry, client reboot, DESTROY_CLIENTID), oldest first: using one is NFS4ERR_EXPIRED rather
  // than BAD_STATEID (RFC 7530 §8.6.3: the client learns its lease is gone and recovers).
  std::set<OtherKey> expired_;
  std::deque<OtherKey> expired_order_;
  std::map<FileHandle, std::chrono::steady_clock::time_point> recently_recalled_;
  LockTable lock_table_;
  // Grace period and client records.
  bool grace_active_ = false;
  std::chrono::steady_clock::time_point grace_end_{};
  std::set<Bytes> reclaim_pending_;  // previous owners that have not completed reclaim
  std::set<Bytes> reclaim_known_;    // every owner of the previous instance
  std::set<Bytes> recorded_;         // owners persisted (or being persisted)
  std::vector<Bytes> unrecord_;      // owners whose records are to be removed
};

template <typename T>
Stat StateManager::FindState(std::map<OtherKey, T>& table, uint32_t minor, const StateId& id,
                             T** out) {
  const uint32_t epoch = (uint32_t{id.other[0]} << 24) | (uint32_t{id.other[1]} << 16) |
                         (uint32_t{id.other[2]} << 8) | id.other[3];
  // A special stateid (other all zeros or all ones) names no state: BAD_STATEID where a real one
  // is needed; any other epoch is an earlier instance's stateid: STALE_STATEID.
  const bool special = std::all_of(std::begin(id.other), std::end(id.other),
                                   [&](uint8_t b) { return b == id.other[0]; }) &&
                       (id.other[0] == 0 || id.other[0] == 0xff);
  if (special) return Stat::kBadStateId;
  if (epoch != epoch_) return Stat::kStaleStateId;
  OtherKey k;
  std::copy(std::begin(id.other), std::end(id.other), k.begin());
  auto it = table.find(k);
  if (it == table.end()) return expired_.contains(k) ? Stat::kExpired : Stat::kBadStateId;
  T& state = it->second;
  if (!(minor >= 1 && id.seqid == 0)) {
    if (id.seqid < state.stateid.seqid) return Stat::kOldStateId;
    if (id.seqid > state.stateid.seqid) return Stat::kBadStateId;
  }
  *out = &state;
  return Stat::kOk;
}

}  // namespace bucketfs::nfs
