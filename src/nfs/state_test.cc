#include "nfs/state.h"

#include <gtest/gtest.h>

namespace bucketfs::nfs {
namespace {

using namespace std::chrono_literals;

class StateTest : public ::testing::Test {
 protected:
  StateTest() : state_(90s, StateLimits{}, [this] { return now_; }) {}

  Principal Who(uint32_t uid, const std::string& machine = "host-a") {
    Principal p;
    p.flavor = rpc::AuthFlavor::kSys;
    p.uid = uid;
    p.machine = machine;
    return p;
  }
  // A confirmed 4.0 client for `owner`.
  uint64_t Client40(const std::string& owner, const Principal& who) {
    SetClientIdArgs a;
    a.id.assign(owner.begin(), owner.end());
    a.verifier[0] = 1;
    uint64_t id = 0;
    Verifier confirm{};
    EXPECT_EQ(state_.SetClientId(who, a, &id, &confirm), Stat::kOk);
    EXPECT_EQ(state_.SetClientIdConfirm(id, confirm), Stat::kOk);
    return id;
  }
  OpenArgs OpenRead(uint32_t seqid, const std::string& owner, uint32_t access = 1,
                    uint32_t deny = 0) {
    OpenArgs a;
    a.seqid = seqid;
    a.share_access = access;
    a.share_deny = deny;
    a.owner.assign(owner.begin(), owner.end());
    return a;
  }

  std::chrono::steady_clock::time_point now_{std::chrono::seconds(1000)};
  StateManager state_;
  FileHandle file_{1, 42};
};

TEST_F(StateTest, SetClientIdConfirmAndWrongVerifier) {
  SetClientIdArgs a;
  a.id = {'c', '1'};
  uint64_t id = 0;
  Verifier confirm{};
  ASSERT_EQ(state_.SetClientId(Who(0), a, &id, &confirm), Stat::kOk);
  Verifier wrong = confirm;
  wrong[0] ^= 0xff;
  EXPECT_EQ(state_.SetClientIdConfirm(id, wrong), Stat::kStaleClientId);
  EXPECT_EQ(state_.SetClientIdConfirm(id, confirm), Stat::kOk);
  EXPECT_EQ(state_.SetClientIdConfirm(id, confirm), Stat::kOk);  // replay
  EXPECT_EQ(state_.Renew(id), Stat::kOk);
  EXPECT_EQ(state_.Renew(id ^ (uint64_t{1} << 40)), Stat::kStaleClientId);  // other epoch
}

TEST_F(StateTest, OpenConfirmReadCloseFor40) {
  uint64_t id = Client40("c1", Who(0));
  StateId sid;
  bool confirm = false;
  ASSERT_EQ(state_.Open(0, id, OpenRead(7, "owner"), file_, &sid, &confirm), Stat::kOk);
  EXPECT_TRUE(confirm);
  StateId confirmed;
  EXPECT_EQ(state_.OpenConfirm(sid, 9, file_, &confirmed), Stat::kBadSeqId);
  ASSERT_EQ(state_.OpenConfirm(sid, 8, file_, &confirmed), Stat::kOk);
  EXPECT_EQ(confirmed.seqid, sid.seqid + 1);
  EXPECT_EQ(state_.CheckIo(0, confirmed, file_, false), Stat::kOk);
  EXPECT_EQ(state_.CheckIo(0, sid, file_, false), Stat::kOldStateId);
  EXPECT_EQ(state_.CheckIo(0, confirmed, file_, true), Stat::kOpenMode);
  EXPECT_EQ(state_.CheckIo(0, confirmed, FileHandle{1, 43}, false), Stat::kBadStateId);
  StateId closed;
  ASSERT_EQ(state_.Close(0, confirmed, 9, file_, &closed), Stat::kOk);
  EXPECT_EQ(state_.CheckIo(0, confirmed, file_, false), Stat::kBadStateId);
  EXPECT_EQ(state_.CheckIo(0, StateId{}, file_, false), Stat::kOk);  // anonymous
}

// OPEN_DOWNGRADE goes back to what some of the OPENs asked for (RFC 7530 §9.9; pynfs OPDG2/3).
TEST_F(StateTest, OpenDowngradeOnlyToModesThatWereOpened) {
  uint64_t id = Client40("c1", Who(0));
  StateId sid;
  bool confirm = false;
  ASSERT_EQ(state_.Open(0, id, OpenRead(1, "o", /*access=*/3), file_, &sid, &confirm), Stat::kOk);
  ASSERT_EQ(state_.OpenConfirm(sid, 2, file_, &sid), Stat::kOk);
  StateId out;
  EXPECT_EQ(state_.OpenDowngrade(0, sid, 50, 1, 0, file_, &out), Stat::kBadSeqId);  // OPDG4
  // READ alone was never opened: INVAL, which still uses up seqid 3 (RFC 7530 §9.1.7).
  EXPECT_EQ(state_.OpenDowngrade(0, sid, 3, 1, 0, file_, &out), Stat::kInval);
  // WRITE, then BOTH: still no READ alone; WRITE is fine.
  ASSERT_EQ(state_.Open(0, id, OpenRead(4, "o", /*access=*/2), file_, &sid, &confirm), Stat::kOk);
  EXPECT_EQ(state_.OpenDowngrade(0, sid, 5, 1, 0, file_, &out), Stat::kInval);
  ASSERT_EQ(state_.OpenDowngrade(0, sid, 6, 2, 0, file_, &out), Stat::kOk);
  // After the downgrade to WRITE, BOTH is gone: no "downgrade" back up to it.
  EXPECT_EQ(state_.OpenDowngrade(0, out, 7, 3, 0, file_, &out), Stat::kInval);
  // READ and WRITE opened separately: their union and each alone are reachable.
  StateId other;
  FileHandle f2{1, 43};
  ASSERT_EQ(state_.Open(0, id, OpenRead(8, "o", 1), f2, &other, &confirm), Stat::kOk);
  ASSERT_EQ(state_.Open(0, id, OpenRead(9, "o", 2), f2, &other, &confirm), Stat::kOk);
  EXPECT_EQ(state_.OpenDowngrade(0, other, 10, 3, 0, f2, &other), Stat::kOk);
  EXPECT_EQ(state_.OpenDowngrade(0, other, 11, 1, 0, f2, &other), Stat::kOk);
}

TEST_F(StateTest, ShareDenyConflictsAcrossClients) {
  uint64_t a = Client40("a", Who(1));
  uint64_t b = Client40("b", Who(2));
  StateId sa, sb;
  bool confirm;
  ASSERT_EQ(state_.Open(0, a, OpenRead(1, "o", 1, /*deny=*/1), file_, &sa, &confirm), Stat::kOk);
  EXPECT_EQ(state_.Open(0, b, OpenRead(1, "o"), file_, &sb, &confirm), Stat::kShareDenied);
  EXPECT_EQ(state_.Open(0, b, OpenRead(2, "o"), FileHandle{1, 7}, &sb, &confirm), Stat::kOk);
}

TEST_F(StateTest, CheckOpenChangesNothing) {
  EXPECT_EQ(state_.CheckOpen(0, 12345, OpenRead(1, "o"), nullptr), Stat::kStaleClientId);
  uint64_t a = Client40("a", Who(1));
  uint64_t b = Client40("b", Who(2));
  // A new owner: any seqid; nothing is recorded, so Open() still treats it as new.
  EXPECT_EQ(state_.CheckOpen(0, a, OpenRead(5, "o"), &file_), Stat::kOk);
  StateId sa, conf;
  bool confirm = false;
  ASSERT_EQ(state_.Open(0, a, OpenRead(5, "o", 3, /*deny=*/2), file_, &sa, &confirm), Stat::kOk);
  EXPECT_TRUE(confirm);
  ASSERT_EQ(state_.OpenConfirm(sa, 6, file_, &conf), Stat::kOk);
  // A confirmed owner: the next seqid only.
  EXPECT_EQ(state_.CheckOpen(0, a, OpenRead(6, "o"), nullptr), Stat::kBadSeqId);
  EXPECT_EQ(state_.CheckOpen(0, a, OpenRead(7, "o"), nullptr), Stat::kOk);
  EXPECT_EQ(state_.CheckOpen(0, a, OpenRead(7, "o"), nullptr), Stat::kOk);  // still 7
  // Another client wanting to write a file opened DENY_WRITE.
  EXPECT_EQ(state_.CheckOpen(0, b, OpenRead(1, "o", 2), &file_), Stat::kShareDenied);
  EXPECT_EQ(state_.CheckOpen(0, b, OpenRead(1, "o", 2), nullptr), Stat::kOk);
  EXPECT_EQ(state_.CheckOpen(0, b, OpenRead(1, "o", 1), &file_), Stat::kOk);
}

TEST_F(StateTest, CloseReportsTheLastOpenOfAFile) {
  uint64_t a = Client40("a", Who(1));
  uint64_t b = Client40("b", Who(2));
  StateId sa, sb, ca, cb, closed;
  bool confirm = false;
  ASSERT_EQ(state_.Open(0, a, OpenRead(1, "o"), file_, &sa, &confirm), Stat::kOk);
  ASSERT_EQ(state_.OpenConfirm(sa, 2, file_, &ca), Stat::kOk);
  ASSERT_EQ(state_.Open(0, b, OpenRead(1, "o"), file_, &sb, &confirm), Stat::kOk);
  ASSERT_EQ(state_.OpenConfirm(sb, 2, file_, &cb), Stat::kOk);
  bool last = true;
  ASSERT_EQ(state_.Close(0, ca, 3, file_, &closed, &last), Stat::kOk);
  EXPECT_FALSE(last);
  ASSERT_EQ(state_.Close(0, cb, 3, file_, &closed, &last), Stat::kOk);
  EXPECT_TRUE(last);
}

TEST_F(StateTest, ExchangeIdCreateSessionSequence) {
  ExchangeIdArgs x;
  x.owner_id = {'x'};
  x.verifier[0] = 3;
  uint64_t id = 0;
  uint32_t seq = 0, flags = 0;
  ASSERT_EQ(state_.ExchangeId(Who(0), x, &id, &seq, &flags), Stat::kOk);
  EXPECT_EQ(flags & 0x80000000u, 0u);  // not confirmed yet
  CreateSessionArgs cs;
  cs.clientid = id;
  cs.sequence = seq + 1;
  cs.fore = {0, 1 << 20, 1 << 20, 8192, 16, 8, {}};
  cs.back = cs.fore;
  SessionId sid;
  uint32_t out_seq;
  ChannelAttrs fore, back;
  EXPECT_EQ(state_.CreateSession(Who(0), 1, cs, &sid, &out_seq, &fore, &back),
            Stat::kSeqMisordered);
  cs.sequence = seq;
  ASSERT_EQ(state_.CreateSession(Who(0), 1, cs, &sid, &out_seq, &fore, &back), Stat::kOk);
  EXPECT_EQ(fore.max_requests, 8u);
  SessionId again;
  ASSERT_EQ(state_.CreateSession(Who(0), 1, cs, &again, &out_seq, &fore, &back), Stat::kOk);
  EXPECT_EQ(again, sid);  // replayed CREATE_SESSION
  // Same owner, same verifier: the confirmed record comes back.
  ASSERT_EQ(state_.ExchangeId(Who(0), x, &id, &seq, &flags), Stat::kOk);
  EXPECT_NE(flags & 0x80000000u, 0u);
  // A different principal cannot take over an owner that holds a session.
  EXPECT_EQ(state_.ExchangeId(Who(5, "evil"), x, &id, &seq, &flags), Stat::kClidInUse);

  StateManager::SequenceOutcome o;
  ASSERT_EQ(state_.Sequence(sid, 1, 0, 3, 1, &o), Stat::kOk);
  EXPECT_EQ(state_.Sequence(sid, 1, 0, 3, 1, &o), Stat::kDelay);  // slot busy
  state_.CompleteSlot(*o.session, 0, AsBytes("reply"), /*cache=*/false);
  StateManager::SequenceOutcome retry;
  EXPECT_EQ(state_.Sequence(sid, 1, 0, 3, 1, &retry), Stat::kRetryUncachedRep);
  EXPECT_EQ(state_.Sequence(sid, 2, 0, 999, 1, &retry), Stat::kTooManyOps);
  EXPECT_EQ(state_.DestroyClientId(id), Stat::kClientIdBusy);
  EXPECT_EQ(state_.DestroySession(sid), Stat::kOk);
  EXPECT_EQ(state_.DestroyClientId(id), Stat::kOk);
}

TEST_F(StateTest, ExpiredLeaseDropsAClientWithoutState) {
  uint64_t id = Client40("c", Who(0));
  now_ += 60s;
  EXPECT_EQ(state_.ReapExpired(), 0u);
  EXPECT_EQ(state_.Renew(id), Stat::kOk);
  now_ += 91s;
  EXPECT_EQ(state_.ReapExpired(), 1u);
  EXPECT_EQ(state_.Renew(id), Stat::kExpired);
}

// Courteous server: an expired client keeps its opens until another client conflicts; it can
// come back and use them meanwhile.
TEST_F(StateTest, CourtesyClientKeepsItsOpensUntilAConflict) {
  uint64_t a = Client40("a", Who(1));
  uint64_t b = Client40("b", Who(2));
  StateId sa, sb;
  bool confirm;
  ASSERT_EQ(state_.Open(0, a, OpenRead(1, "o", 1, /*deny=*/2), file_, &sa, &confirm), Stat::kOk);
  EXPECT_EQ(state_.TakeOwnerToRecord(a), (std::optional<Bytes>{Bytes{'a'}}));
  now_ += 91s;
  EXPECT_EQ(state_.Renew(b), Stat::kOk);
  EXPECT_EQ(state_.ReapExpired(), 0u);
  EXPECT_EQ(state_.counts().courtesy_clients, 1u);
  EXPECT_EQ(state_.counts().clients, 1u);
  // It comes back: its open still works and it is an ordinary client again.
  EXPECT_EQ(state_.CheckIo(0, sa, file_, false), Stat::kOk);
  EXPECT_EQ(state_.Renew(a), Stat::kOk);
  EXPECT_EQ(state_.counts().courtesy_clients, 0u);
  // Silent again past its lease: b's conflicting open expires it and goes through.
  now_ += 91s;
  EXPECT_EQ(state_.Renew(b), Stat::kOk);
  EXPECT_EQ(state_.Open(0, b, OpenRead(1, "o", kShareAccessBoth), file_, &sb, &confirm), Stat::kOk);
  EXPECT_EQ(state_.CheckIo(0, sa, file_, false), Stat::kExpired);  // RFC 7530 §8.6.3
  EXPECT_EQ(state_.Renew(a), Stat::kExpired);
  EXPECT_EQ(state_.TakeOwnersToUnrecord(), (std::vector<Bytes>{Bytes{'a'}}));
}

TEST_F(StateTest, CourtesyEndsAfterItsLimitOrWhenTooManyWait) {
  StateLimits limits;
  limits.courtesy = 200s;
  limits.max_courtesy_clients = 1;
  StateManager state(90s, limits, [this] { return now_; });
  std::vector<uint64_t> ids;
  for (const char* owner : {"a", "b"}) {
    SetClientIdArgs args;
    args.id = {static_cast<uint8_t>(owner[0])};
    uint64_t id = 0;
    Verifier confirm{};
    ASSERT_EQ(state.SetClientId(Who(0), args, &id, &confirm), Stat::kOk);
    ASSERT_EQ(state.SetClientIdConfirm(id, confirm), Stat::kOk);
    StateId sid;
    bool c;
    ASSERT_EQ(state.Open(0, id, OpenRead(1, "o"), FileHandle{1, id}, &sid, &c), Stat::kOk);
    ids.push_back(id);
    now_ += 10s;
  }
  now_ += 90s;
  EXPECT_EQ(state.ReapExpired(), 1u);  // two in courtesy, one allowed: the older goes
  EXPECT_EQ(state.Renew(ids[0]), Stat::kExpired);
  now_ += 100s;  // b silent for 200 s
  EXPECT_EQ(state.ReapExpired(), 0u);
  now_ += 1s;
  EXPECT_EQ(state.ReapExpired(), 1u);
  EXPECT_EQ(state.Renew(ids[1]), Stat::kExpired);
}

TEST_F(StateTest, ShareDenyBindsTheSameOwnerAndSpecialStateidIo) {
  uint64_t id = Client40("c", Who(0));
  StateId sid, again;
  bool confirm = false;
  // BOTH with DENY_READ; the same owner then asks for READ: SHARE_DENIED (RFC 7530 §16.16.5).
  ASSERT_EQ(state_.Open(0, id, OpenRead(1, "o", kShareAccessBoth, kShareAccessRead), file_, &sid,
                        &confirm),
            Stat::kOk);
  EXPECT_EQ(state_.Open(0, id, OpenRead(2, "o", kShareAccessRead, 0), file_, &again, &confirm),
            Stat::kShareDenied);
  // READ without an open (anonymous or read-bypass stateid) meets the deny: LOCKED; WRITE is free.
  EXPECT_EQ(state_.CheckIo(0, StateId{}, file_, /*write=*/false), Stat::kLocked);
  StateId bypass;
  bypass.seqid = 0xffffffff;
  std::fill(std::begin(bypass.other), std::end(bypass.other), 0xff);
  EXPECT_EQ(state_.CheckIo(0, bypass, file_, false), Stat::kLocked);
  EXPECT_EQ(state_.CheckIo(0, StateId{}, file_, /*write=*/true), Stat::kOk);
  EXPECT_EQ(state_.CheckIo(0, StateId{}, FileHandle{1, 43}, false), Stat::kOk);
  // A special stateid where a real one is needed is BAD_STATEID, not STALE.
  StateId out;
  EXPECT_EQ(state_.Close(0, StateId{}, 3, file_, &out), Stat::kBadStateId);
}

// ---- Delegations (state_deleg.cc) ----

class DelegationTest : public StateTest {
 protected:
  // A confirmed 4.1 client with a session whose connection `conn` is its back channel (when
  // `back`), done with reclaiming.
  uint64_t Client41(const std::string& owner, uint64_t conn, bool back = true) {
    ExchangeIdArgs x;
    x.owner_id.assign(owner.begin(), owner.end());
    x.verifier[0] = 1;
    uint64_t id = 0;
    uint32_t seq = 0, flags = 0;
    EXPECT_EQ(state_.ExchangeId(Who(0, owner), x, &id, &seq, &flags), Stat::kOk);
    CreateSessionArgs cs;
    cs.clientid = id;
    cs.sequence = seq;
    cs.flags = back ? kCreateSessionConnBackChan : 0;
    cs.fore = {0, 1 << 20, 1 << 20, 8192, 16, 8, {}};
    cs.back = {0, 4096, 4096, 0, 2, 1, {}};
    cs.cb.program = 0x40000000;
    cs.cb.usable = true;
    SessionId sid;
    uint32_t out_seq = 0;
    ChannelAttrs fore, bk;
    EXPECT_EQ(state_.CreateSession(Who(0, owner), conn, cs, &sid, &out_seq, &fore, &bk), Stat::kOk);
    EXPECT_EQ(state_.ReclaimComplete(id), Stat::kOk);
    sessions_[id] = sid;
    return id;
  }
  StateId OpenFor(uint64_t client, uint32_t access, const FileHandle& file) {
    StateId sid;
    bool confirm = false;
    EXPECT_EQ(state_.Open(1, client, OpenRead(0, "owner", access), file, &sid, &confirm),
              Stat::kOk);
    return sid;
  }
  std::map<uint64_t, SessionId> sessions_;
};

TEST_F(DelegationTest, GrantedForAReadOpenWithABackChannelOnly) {
  uint64_t a = Client41("a", 1);
  uint64_t nob = Client41("no-back", 2, /*back=*/false);
  OpenFor(a, kShareAccessRead, file_);
  auto d = state_.GrantReadDelegation(1, a, file_, 77);
  ASSERT_TRUE(d);
  EXPECT_FALSE(state_.GrantReadDelegation(1, a, file_, 77));             // one per client and file
  EXPECT_FALSE(state_.GrantReadDelegation(0, a, FileHandle{1, 50}, 1));  // 4.0: none
  OpenFor(nob, kShareAccessRead, file_);
  EXPECT_FALSE(state_.GrantReadDelegation(1, nob, file_, 77));  // no back channel
  // The delegation stateid reads, never writes; TEST_STATEID knows it.
  EXPECT_EQ(state_.CheckIo(1, *d, file_, false), Stat::kOk);
  EXPECT_EQ(state_.CheckIo(1, *d, file_, true), Stat::kOpenMode);
  EXPECT_EQ(state_.TestStateId(a, *d), Stat::kOk);
  EXPECT_EQ(state_.counts().delegations, 1u);
  // A file open for writing by anyone gets no delegation.
  FileHandle written{1, 43};
  OpenFor(nob, kShareAccessBoth, written);
  EXPECT_FALSE(state_.GrantReadDelegation(1, a, written, 1));
}

// RFC 7530 §16.33, §16.28.4: a 4.0 client's callback path is probed after SETCLIENTID_CONFIRM;
// only then does it get delegations, and RENEW says CB_PATH_DOWN while it holds one on a path
// that stopped answering.
TEST_F(DelegationTest, For40OnlyOnceTheCallbackPathAnswered) {
  SetClientIdArgs a;
  const std::string owner = "linux-40";
  a.id.assign(owner.begin(), owner.end());
  a.verifier[0] = 1;
  a.cb_program = 0x40000000;
  a.r_netid = "tcp";
  a.r_addr = "127.0.0.1.4.1";
  a.callback_ident = 7;
  uint64_t id = 0;
  Verifier confirm{};
  ASSERT_EQ(state_.SetClientId(Who(0, owner), a, &id, &confirm), Stat::kOk);
  EXPECT_FALSE(state_.CallbackPath40(id));  // not confirmed yet
  ASSERT_EQ(state_.SetClientIdConfirm(id, confirm), Stat::kOk);
  auto probe = state_.CallbackPath40(id);
  ASSERT_TRUE(probe);
  EXPECT_EQ(probe->minor, 0u);
  EXPECT_EQ(probe->cb40.addr, "127.0.0.1.4.1");
  EXPECT_EQ(probe->cb40.ident, 7u);
  EXPECT_EQ(probe->cb.program, 0x40000000u);
  EXPECT_EQ(probe->cb.flavor, rpc::AuthFlavor::kSys);

  StateId open;
  bool needs_confirm = false;
  ASSERT_EQ(state_.Open(0, id, OpenRead(1, "owner"), file_, &open, &needs_confirm), Stat::kOk);
  EXPECT_FALSE(state_.GrantReadDelegation(0, id, file_, 1));  // not probed yet
  EXPECT_FALSE(state_.TakeCallbackPath(id));
  state_.SetCallbackUp(id, probe->cb40.version + 1, true);  // another version's probe
  EXPECT_FALSE(state_.GrantReadDelegation(0, id, file_, 1));
  state_.SetCallbackUp(id, probe->cb40.version, true);
  auto d = state_.GrantReadDelegation(0, id, file_, 1);
  ASSERT_TRUE(d);
  auto path = state_.TakeCallbackPath(id);
  ASSERT_TRUE(path);
  EXPECT_EQ(path->minor, 0u);
  EXPECT_EQ(path->cb40.ident, 7u);
  EXPECT_EQ(state_.Renew(id), Stat::kOk);

  state_.SetCallbackUp(id, probe->cb40.version, false);  // a later callback failed
  EXPECT_EQ(state_.Renew(id), Stat::kCbPathDown);
  EXPECT_EQ(state_.DelegReturn(0, id, *d, file_), Stat::kOk);
  EXPECT_EQ(state_.Renew(id), Stat::kOk);

  // A new callback address (SETCLIENTID with the same verifier, then confirm) must be probed.
  state_.SetCallbackUp(id, probe->cb40.version, true);
  a.r_addr = "127.0.0.1.4.2";
  uint64_t same = 0;
  ASSERT_EQ(state_.SetClientId(Who(0, owner), a, &same, &confirm), Stat::kOk);
  EXPECT_EQ(same, id);
  EXPECT_EQ(state_.CallbackPath40(id)->cb40.addr, "127.0.0.1.4.1");  // until confirmed
  ASSERT_EQ(state_.SetClientIdConfirm(id, confirm), Stat::kOk);
  auto changed = state_.CallbackPath40(id);
  ASSERT_TRUE(changed);
  EXPECT_EQ(changed->cb40.addr, "127.0.0.1.4.2");
  EXPECT_NE(changed->cb40.version, probe->cb40.version);
  EXPECT_FALSE(changed->cb40.up);
  EXPECT_FALSE(state_.GrantReadDelegation(0, id, FileHandle{1, 44}, 1));
}

TEST_F(DelegationTest, ConflictRecallsOnceThenReturnLetsTheOperationThrough) {
  uint64_t a = Client41("a", 1);
  uint64_t b = Client41("b", 2);
  OpenFor(a, kShareAccessRead, file_);
  auto d = state_.GrantReadDelegation(1, a, file_, 5);
  ASSERT_TRUE(d);
  std::vector<Recall> recalls;
  EXPECT_FALSE(state_.BreakDelegations(file_, a, &recalls));  // the holder itself: no conflict
  EXPECT_TRUE(recalls.empty());
  EXPECT_TRUE(state_.BreakDelegations(file_, b, &recalls));
  ASSERT_EQ(recalls.size(), 1u);
  EXPECT_EQ(recalls[0].clientid, a);
  recalls.clear();
  EXPECT_TRUE(state_.BreakDelegations(file_, b, &recalls));  // still out, recalled once
  EXPECT_TRUE(recalls.empty());
  // The recall goes to a's back channel, slot 0, sequenceid 1 then 2.
  auto path = state_.TakeCallbackPath(a);
  ASSERT_TRUE(path);
  EXPECT_EQ(path->connection, 1u);
  EXPECT_EQ(path->seqid, 1u);
  EXPECT_EQ(path->minor, 1u);  // CB_COMPOUND's minorversion: the client's
  EXPECT_EQ(state_.TakeCallbackPath(a)->seqid, 2u);
  EXPECT_EQ(state_.DelegReturn(1, b, *d, file_), Stat::kBadStateId);  // not b's
  ASSERT_EQ(state_.DelegReturn(1, a, *d, file_), Stat::kOk);
  EXPECT_FALSE(state_.BreakDelegations(file_, b, &recalls));
  // Not delegated again right after a recall.
  EXPECT_FALSE(state_.GrantReadDelegation(1, a, file_, 5));
}

TEST_F(DelegationTest, UnreturnedRecallIsRevokedAfterALease) {
  uint64_t a = Client41("a", 1);
  uint64_t b = Client41("b", 2);
  OpenFor(a, kShareAccessRead, file_);
  auto d = state_.GrantReadDelegation(1, a, file_, 5);
  ASSERT_TRUE(d);
  std::vector<Recall> recalls;
  ASSERT_TRUE(state_.BreakDelegations(file_, b, &recalls));
  now_ += 60s;
  StateManager::SequenceOutcome out;
  ASSERT_EQ(state_.Sequence(sessions_[a], 1, 0, 1, 1, &out), Stat::kOk);
  state_.CompleteSlot(*out.session, 0, {}, false);
  ASSERT_EQ(state_.Sequence(sessions_[b], 1, 0, 1, 2, &out), Stat::kOk);
  state_.CompleteSlot(*out.session, 0, {}, false);
  now_ += 31s;  // recalled 91 s ago: more than the 90 s lease
  state_.ReapExpired();
  EXPECT_FALSE(state_.BreakDelegations(file_, b, &recalls));  // b goes ahead
  EXPECT_EQ(state_.CheckIo(1, *d, file_, false), Stat::kDelegRevoked);
  EXPECT_EQ(state_.TestStateId(a, *d), Stat::kDelegRevoked);
  ASSERT_EQ(state_.Sequence(sessions_[a], 2, 0, 1, 1, &out), Stat::kOk);
  EXPECT_NE(out.status_flags & kSeq4StatusRecallableStateRevoked, 0u);
  state_.CompleteSlot(*out.session, 0, {}, false);
  EXPECT_EQ(state_.FreeStateId(a, *d), Stat::kOk);
  ASSERT_EQ(state_.Sequence(sessions_[a], 3, 0, 1, 1, &out), Stat::kOk);
  EXPECT_EQ(out.status_flags & kSeq4StatusRecallableStateRevoked, 0u);
}

TEST_F(DelegationTest, UndeliverableRecallRevokesAtOnceAndClosedBackChannelStopsGrants) {
  uint64_t a = Client41("a", 1);
  OpenFor(a, kShareAccessRead, file_);
  auto d = state_.GrantReadDelegation(1, a, file_, 5);
  ASSERT_TRUE(d);
  state_.RevokeDelegation(*d);
  std::vector<Recall> recalls;
  EXPECT_FALSE(state_.BreakDelegations(file_, 0, &recalls));
  EXPECT_EQ(state_.DelegReturn(1, a, *d, file_), Stat::kDelegRevoked);
  state_.ConnectionClosed(1);
  EXPECT_FALSE(state_.TakeCallbackPath(a));
  EXPECT_FALSE(state_.GrantReadDelegation(1, a, FileHandle{1, 60}, 1));
}

TEST_F(DelegationTest, ChangeInTheBucketRecallsAndPinsTheHoldersChangeAttribute) {
  uint64_t a = Client41("a", 1);
  uint64_t b = Client41("b", 2);
  OpenFor(a, kShareAccessRead, file_);
  OpenFor(b, kShareAccessRead, file_);
  auto da = state_.GrantReadDelegation(1, a, file_, 5);
  auto db = state_.GrantReadDelegation(1, b, file_, 5);
  ASSERT_TRUE(da && db);
  ASSERT_EQ(state_.DelegatedFiles().size(), 2u);
  EXPECT_FALSE(state_.PinnedChange(a, file_));  // no change seen: the real attribute
  std::vector<Recall> recalls;
  EXPECT_TRUE(state_.BreakDelegations(file_, 0, &recalls, /*external=*/true));
  EXPECT_EQ(recalls.size(), 2u);
  EXPECT_TRUE(state_.DelegatedFiles().empty());  // not checked again while recalled
  EXPECT_EQ(state_.PinnedChange(a, file_), 5u);
  EXPECT_EQ(state_.PinnedChange(b, file_), 5u);
  ASSERT_EQ(state_.DelegReturn(1, a, *da, file_), Stat::kOk);
  EXPECT_FALSE(state_.PinnedChange(a, file_));  // returned: a sees the change now
  EXPECT_EQ(state_.PinnedChange(b, file_), 5u);
}

}  // namespace
}  // namespace bucketfs::nfs
