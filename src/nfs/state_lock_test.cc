// StateManager's byte-range locks (state_lock.cc): LOCK / LOCKT / LOCKU / RELEASE_LOCKOWNER,
// 4.0 lock-owner sequencing, lock stateids for I/O, and what CLOSE and lease expiry release.
#include <gtest/gtest.h>

#include <limits>

#include "nfs/state.h"

namespace bucketfs::nfs {
namespace {

using namespace std::chrono_literals;
constexpr uint64_t kToEof = std::numeric_limits<uint64_t>::max();

class StateLockTest : public ::testing::Test {
 protected:
  StateLockTest() : state_(90s, StateLimits{}, [this] { return now_; }) {}

  // A confirmed 4.0 client for `name` (also its machine name).
  uint64_t Client40(const std::string& name) {
    SetClientIdArgs a;
    a.id.assign(name.begin(), name.end());
    Principal who;
    who.flavor = rpc::AuthFlavor::kSys;
    who.machine = name;
    uint64_t id = 0;
    Verifier confirm{};
    EXPECT_EQ(state_.SetClientId(who, a, &id, &confirm), Stat::kOk);
    EXPECT_EQ(state_.SetClientIdConfirm(id, confirm), Stat::kOk);
    return id;
  }
  // An open of file_ by open-owner "oo" of `clientid`, confirmed; the owner's seqid is then 2.
  StateId Open40(uint64_t clientid, uint32_t access = kShareAccessBoth) {
    OpenArgs a;
    a.seqid = 1;
    a.share_access = access;
    a.owner = {'o', 'o'};
    StateId sid, confirmed;
    bool confirm = false;
    EXPECT_EQ(state_.Open(0, clientid, a, file_, &sid, &confirm), Stat::kOk);
    EXPECT_EQ(state_.OpenConfirm(sid, 2, file_, &confirmed), Stat::kOk);
    return confirmed;
  }
  static LockArgs NewOwner(uint64_t clientid, const StateId& open, uint32_t open_seqid,
                           const std::string& owner, LockKind kind, uint64_t offset,
                           uint64_t length) {
    LockArgs a;
    a.kind = kind;
    a.offset = offset;
    a.length = length;
    a.new_lock_owner = true;
    a.open_seqid = open_seqid;
    a.open_stateid = open;
    a.lock_seqid = 0;
    a.owner_clientid = clientid;
    a.owner.assign(owner.begin(), owner.end());
    return a;
  }
  static LockArgs Existing(const StateId& lock, uint32_t lock_seqid, LockKind kind, uint64_t offset,
                           uint64_t length) {
    LockArgs a;
    a.kind = kind;
    a.offset = offset;
    a.length = length;
    a.lock_stateid = lock;
    a.lock_seqid = lock_seqid;
    return a;
  }

  std::chrono::steady_clock::time_point now_{std::chrono::seconds(1000)};
  StateManager state_;
  FileHandle file_{1, 42, 1};
};

TEST_F(StateLockTest, WriteLocksConflictAcrossClientsUntilUnlocked) {
  const uint64_t a = Client40("a"), b = Client40("b");
  const StateId open_a = Open40(a), open_b = Open40(b);
  StateId lock_a, lock_b;
  LockDenied denied;
  ASSERT_EQ(state_.Lock(0, 0, NewOwner(a, open_a, 3, "la", LockKind::kWrite, 0, 100), file_,
                        &lock_a, &denied),
            Stat::kOk);
  EXPECT_EQ(lock_a.seqid, 1u);
  ASSERT_EQ(state_.Lock(0, 0, NewOwner(b, open_b, 3, "lb", LockKind::kRead, 50, 10), file_, &lock_b,
                        &denied),
            Stat::kDenied);
  EXPECT_EQ(denied.offset, 0u);
  EXPECT_EQ(denied.length, 100u);
  EXPECT_EQ(denied.kind, LockKind::kWrite);
  EXPECT_EQ(denied.clientid, a);
  EXPECT_EQ(denied.owner, (Bytes{'l', 'a'}));
  EXPECT_EQ(state_.LockTest(0, b, LockKind::kRead, 99, 1, {'l', 'b'}, file_, &denied),
            Stat::kDenied);
  EXPECT_EQ(state_.LockTest(0, b, LockKind::kRead, 100, kToEof, {'l', 'b'}, file_, &denied),
            Stat::kOk);
  EXPECT_EQ(state_.LockTest(0, a, LockKind::kWrite, 0, 1, {'l', 'a'}, file_, &denied), Stat::kOk);

  StateId unlocked;
  ASSERT_EQ(state_.LockU(0, 1, lock_a, 0, kToEof, file_, &unlocked), Stat::kOk);
  EXPECT_EQ(unlocked.seqid, 2u);
  // DENIED advanced b's open-owner seqid (RFC 7530 §9.1.7), and left no lock stateid behind, so
  // the retry is again a new lock-owner, with the next open seqid.
  EXPECT_EQ(state_.Lock(0, 0, NewOwner(b, open_b, 3, "lb", LockKind::kRead, 50, 10), file_, &lock_b,
                        &denied),
            Stat::kBadSeqId);
  ASSERT_EQ(state_.Lock(0, 0, NewOwner(b, open_b, 4, "lb", LockKind::kRead, 50, 10), file_, &lock_b,
                        &denied),
            Stat::kOk);
  EXPECT_EQ(state_.lock_count(), 1u);
}

TEST_F(StateLockTest, LockOwnerSeqidsAndStateidGenerations) {
  const uint64_t a = Client40("a");
  const StateId open = Open40(a);
  StateId lock, next;
  LockDenied denied;
  ASSERT_EQ(
      state_.Lock(0, 0, NewOwner(a, open, 3, "l", LockKind::kRead, 0, 10), file_, &lock, &denied),
      Stat::kOk);
  // A second new_lock_owner LOCK of an owner that has state on the file (RFC 7530 §16.10.5).
  EXPECT_EQ(
      state_.Lock(0, 0, NewOwner(a, open, 4, "l", LockKind::kRead, 20, 10), file_, &next, &denied),
      Stat::kBadSeqId);
  EXPECT_EQ(state_.Lock(0, 0, Existing(lock, 5, LockKind::kRead, 20, 10), file_, &next, &denied),
            Stat::kBadSeqId);  // lock seqid 0 was the owner's first: next is 1
  ASSERT_EQ(state_.Lock(0, 0, Existing(lock, 1, LockKind::kWrite, 20, 10), file_, &next, &denied),
            Stat::kOk);
  EXPECT_EQ(next.seqid, lock.seqid + 1);
  EXPECT_EQ(state_.Lock(0, 0, Existing(lock, 2, LockKind::kRead, 0, 1), file_, &next, &denied),
            Stat::kOldStateId);
  EXPECT_EQ(state_.LockU(0, 2, next, 0, 0, file_, &next), Stat::kInval);           // zero length
  EXPECT_EQ(state_.LockU(0, 3, next, 5, kToEof - 1, file_, &next), Stat::kInval);  // overflow
  EXPECT_EQ(state_.LockU(0, 4, next, 0, 10, FileHandle{1, 43, 1}, &next), Stat::kBadStateId);
}

TEST_F(StateLockTest, LockModeMustMatchTheOpen) {
  const uint64_t a = Client40("a");
  const StateId open = Open40(a, kShareAccessRead);
  StateId lock;
  LockDenied denied;
  EXPECT_EQ(
      state_.Lock(0, 0, NewOwner(a, open, 3, "l", LockKind::kWrite, 0, 10), file_, &lock, &denied),
      Stat::kOpenMode);
  EXPECT_EQ(
      state_.Lock(0, 0, NewOwner(a, open, 4, "l", LockKind::kRead, 0, 10), file_, &lock, &denied),
      Stat::kOk);
  // The lock stateid stands for its open in READ and WRITE.
  EXPECT_EQ(state_.CheckIo(0, lock, file_, false), Stat::kOk);
  EXPECT_EQ(state_.CheckIo(0, lock, file_, true), Stat::kOpenMode);
}

TEST_F(StateLockTest, ReleaseLockOwnerOnlyWhenNothingIsHeld) {
  const uint64_t a = Client40("a");
  const StateId open = Open40(a);
  StateId lock, out;
  LockDenied denied;
  ASSERT_EQ(state_.Lock(0, 0, NewOwner(a, open, 3, "l", LockKind::kWrite, 0, kToEof), file_, &lock,
                        &denied),
            Stat::kOk);
  EXPECT_EQ(state_.ReleaseLockOwner(a, {'l'}), Stat::kLocksHeld);
  ASSERT_EQ(state_.LockU(0, 1, lock, 0, kToEof, file_, &out), Stat::kOk);
  EXPECT_EQ(state_.ReleaseLockOwner(a, {'l'}), Stat::kOk);
  EXPECT_EQ(state_.CheckIo(0, out, file_, false), Stat::kBadStateId);
  EXPECT_EQ(state_.ReleaseLockOwner(a, {'n', 'o'}), Stat::kOk);  // unknown owner: nothing to do
}

TEST_F(StateLockTest, CloseAndLeaseExpiryReleaseLocks) {
  const uint64_t a = Client40("a"), b = Client40("b");
  const StateId open_a = Open40(a), open_b = Open40(b);
  StateId lock, closed;
  LockDenied denied;
  ASSERT_EQ(state_.Lock(0, 0, NewOwner(a, open_a, 3, "l", LockKind::kWrite, 0, kToEof), file_,
                        &lock, &denied),
            Stat::kOk);
  ASSERT_EQ(state_.Close(0, open_a, 4, file_, &closed), Stat::kOk);
  EXPECT_EQ(state_.lock_count(), 0u);
  EXPECT_EQ(state_.CheckIo(0, lock, file_, false), Stat::kBadStateId);

  ASSERT_EQ(state_.Lock(0, 0, NewOwner(b, open_b, 3, "l", LockKind::kWrite, 0, kToEof), file_,
                        &lock, &denied),
            Stat::kOk);
  now_ += 60s;
  EXPECT_EQ(state_.Renew(a), Stat::kOk);  // a stays; b stops renewing
  now_ += 40s;
  // b is a courtesy client now: its lock stays until someone conflicts with it.
  EXPECT_EQ(state_.ReapExpired(), 0u);
  EXPECT_EQ(state_.lock_count(), 1u);
  const uint64_t c = Client40("c");
  const StateId open_c = Open40(c);
  ASSERT_EQ(
      state_.Lock(0, 0, NewOwner(c, open_c, 3, "l", LockKind::kRead, 5, 1), file_, &lock, &denied),
      Stat::kOk);  // b's lock went with its lease
  EXPECT_EQ(state_.lock_count(), 1u);
  EXPECT_EQ(state_.Renew(b), Stat::kExpired);
}

TEST_F(StateLockTest, LockTestExpiresACourtesyHolderOnly) {
  const uint64_t a = Client40("a"), b = Client40("b");
  const StateId open_a = Open40(a);
  StateId lock;
  LockDenied denied;
  ASSERT_EQ(state_.Lock(0, 0, NewOwner(a, open_a, 3, "l", LockKind::kWrite, 0, kToEof), file_,
                        &lock, &denied),
            Stat::kOk);
  EXPECT_EQ(state_.LockTest(0, b, LockKind::kRead, 0, 1, {'t'}, file_, &denied), Stat::kDenied);
  EXPECT_EQ(denied.clientid, a);
  now_ += 100s;
  EXPECT_EQ(state_.Renew(b), Stat::kOk);
  EXPECT_EQ(state_.LockTest(0, b, LockKind::kRead, 0, 1, {'t'}, file_, &denied), Stat::kOk);
  EXPECT_EQ(state_.lock_count(), 0u);
}

TEST_F(StateLockTest, BlockingLockWaiterIsServedFirst) {
  const uint64_t a = Client40("a"), b = Client40("b"), c = Client40("c");
  const StateId open_a = Open40(a), open_b = Open40(b), open_c = Open40(c);
  StateId lock_a, lock_b, lock_c, out;
  LockDenied denied;
  ASSERT_EQ(state_.Lock(0, 0, NewOwner(a, open_a, 3, "l", LockKind::kWrite, 0, kToEof), file_,
                        &lock_a, &denied),
            Stat::kOk);
  LockArgs wait_b = NewOwner(b, open_b, 3, "l", LockKind::kWrite, 0, kToEof);
  wait_b.blocking = true;
  ASSERT_EQ(state_.Lock(0, 0, wait_b, file_, &lock_b, &denied), Stat::kDenied);
  ASSERT_EQ(state_.LockU(0, 1, lock_a, 0, kToEof, file_, &out), Stat::kOk);
  // c did not wait: b's reservation keeps the range for b.
  EXPECT_EQ(state_.Lock(0, 0, NewOwner(c, open_c, 3, "l", LockKind::kWrite, 0, 10), file_, &lock_c,
                        &denied),
            Stat::kDenied);
  EXPECT_EQ(denied.clientid, b);
  wait_b.open_seqid = 4;
  EXPECT_EQ(state_.Lock(0, 0, wait_b, file_, &lock_b, &denied), Stat::kOk);
}

TEST_F(StateLockTest, FourOneLockStateidsAreTestedAndFreed) {
  // 4.1 rules without a session: seqids are not checked and the caller names the client.
  const uint64_t a = Client40("a");
  const StateId open = Open40(a);
  StateId lock, out;
  LockDenied denied;
  LockArgs args = NewOwner(0, open, 0, "l", LockKind::kRead, 0, 10);
  ASSERT_EQ(state_.Lock(1, a, args, file_, &lock, &denied), Stat::kOk);
  EXPECT_EQ(state_.TestStateId(a, lock), Stat::kOk);
  EXPECT_EQ(state_.FreeStateId(a, lock), Stat::kLocksHeld);
  ASSERT_EQ(state_.LockU(1, 0, lock, 0, 10, file_, &out), Stat::kOk);
  EXPECT_EQ(state_.FreeStateId(a, out), Stat::kOk);
  EXPECT_EQ(state_.TestStateId(a, out), Stat::kBadStateId);
}

TEST_F(StateLockTest, GraceAdmitsOnlyReclaimsOfPreviousClients) {
  state_.BeginGrace({Bytes{'a'}, Bytes{'g', 'o', 'n', 'e'}}, 90s);
  EXPECT_TRUE(state_.InGrace());
  const uint64_t a = Client40("a"), b = Client40("b");
  OpenArgs open;
  open.seqid = 1;
  open.share_access = kShareAccessBoth;
  open.owner = {'o'};
  StateId sid, confirmed;
  bool confirm = false;
  EXPECT_EQ(state_.Open(0, a, open, file_, &sid, &confirm), Stat::kGrace);
  open.claim = ClaimType::kPrevious;
  open.seqid = 2;
  ASSERT_EQ(state_.Open(0, a, open, file_, &sid, &confirm), Stat::kOk);
  EXPECT_FALSE(confirm);  // a reclaiming 4.0 owner needs no OPEN_CONFIRM
  confirmed = sid;
  open.seqid = 3;  // (the seqid OPEN_CONFIRM would have taken)
  ASSERT_EQ(state_.Open(0, a, open, file_, &sid, &confirm), Stat::kOk);  // upgrade, same stateid
  confirmed = sid;
  EXPECT_EQ(state_.Open(0, b, open, file_, &sid, &confirm), Stat::kReclaimBad);  // not recorded
  LockArgs lock = NewOwner(a, confirmed, 4, "l", LockKind::kWrite, 0, kToEof);
  StateId lock_sid;
  LockDenied denied;
  EXPECT_EQ(state_.Lock(0, 0, lock, file_, &lock_sid, &denied), Stat::kGrace);
  lock.open_seqid = 5;
  lock.reclaim = true;
  ASSERT_EQ(state_.Lock(0, 0, lock, file_, &lock_sid, &denied), Stat::kOk);
  EXPECT_EQ(state_.LockTest(0, b, LockKind::kRead, 0, 1, {'x'}, file_, &denied), Stat::kGrace);
  EXPECT_TRUE(state_.TakeOwnersToUnrecord().empty());

  now_ += 91s;  // the grace period is over: reclaims are refused, new state is granted
  EXPECT_FALSE(state_.InGrace());
  open.seqid = 6;  // OPEN_CONFIRM and two LOCKs used 3, 4 and 5
  EXPECT_EQ(state_.Open(0, a, open, file_, &sid, &confirm), Stat::kNoGrace);
  EXPECT_EQ(state_.LockTest(0, b, LockKind::kRead, 0, 1, {'x'}, file_, &denied), Stat::kDenied);
  // "gone" never came back: its record goes; a and b are recorded on their own (not here).
  EXPECT_EQ(state_.TakeOwnersToUnrecord(), (std::vector<Bytes>{Bytes{'g', 'o', 'n', 'e'}}));
  EXPECT_EQ(state_.TakeOwnerToRecord(b), (std::optional<Bytes>{Bytes{'b'}}));
  EXPECT_EQ(state_.TakeOwnerToRecord(b), std::nullopt);  // once
  EXPECT_EQ(state_.TakeOwnerToRecord(a), std::nullopt);  // recorded by the previous instance
}

TEST_F(StateLockTest, GraceEndsWhenEveryPreviousClientCompletedReclaim) {
  state_.BeginGrace({Bytes{'a'}}, 90s);
  const uint64_t a = Client40("a");
  EXPECT_TRUE(state_.InGrace());
  ASSERT_EQ(state_.ReclaimComplete(a), Stat::kOk);
  EXPECT_FALSE(state_.InGrace());
  EXPECT_EQ(state_.ReclaimComplete(a), Stat::kCompleteAlready);
}

TEST_F(StateLockTest, NoRecordsNoGrace) {
  state_.BeginGrace({}, 90s);
  EXPECT_FALSE(state_.InGrace());
  const uint64_t a = Client40("a");
  const StateId open = Open40(a);
  StateId lock;
  LockDenied denied;
  LockArgs args = NewOwner(a, open, 3, "l", LockKind::kRead, 0, 1);
  args.reclaim = true;
  EXPECT_EQ(state_.Lock(0, 0, args, file_, &lock, &denied), Stat::kNoGrace);
  // An expired client's record is removed (it holds an open: once its courtesy time is over).
  EXPECT_EQ(state_.TakeOwnerToRecord(a), (std::optional<Bytes>{Bytes{'a'}}));
  now_ += 100s;
  EXPECT_EQ(state_.ReapExpired(), 0u);
  now_ += 25h;
  EXPECT_EQ(state_.ReapExpired(), 1u);
  EXPECT_EQ(state_.TakeOwnersToUnrecord(), (std::vector<Bytes>{Bytes{'a'}}));
}

}  // namespace
}  // namespace bucketfs::nfs
