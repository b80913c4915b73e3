#include "nfs/lock_table.h"

#include <gtest/gtest.h>

#include <limits>

namespace bucketfs::nfs {
namespace {

using namespace std::chrono_literals;
constexpr uint64_t kEnd = std::numeric_limits<uint64_t>::max();

class LockTableTest : public ::testing::Test {
 protected:
  std::optional<LockConflict> Test(uint64_t owner, LockKind kind, uint64_t first, uint64_t last,
                                   bool waiters = true) {
    return table_.Test(file_, owner, kind, {first, last}, waiters, now_);
  }
  // The locks of file_ as "owner:first-last:R/W" strings.
  std::vector<std::string> Locks() {
    std::vector<std::string> out;
    for (const auto& l : table_.LocksOf(file_)) {
      out.push_back(std::to_string(l.owner) + ":" + std::to_string(l.range.first) + "-" +
                    (l.range.last == kEnd ? "end" : std::to_string(l.range.last)) + ":" +
                    (l.kind == LockKind::kRead ? "R" : "W"));
    }
    return out;
  }

  LockTable table_;
  LockFile file_{1, 42};
  LockTable::Clock::time_point now_{1000s};
};

TEST_F(LockTableTest, ReadLocksShareWriteLocksExclude) {
  table_.Set(file_, 1, LockKind::kRead, {0, 99});
  EXPECT_FALSE(Test(2, LockKind::kRead, 50, 150));
  auto c = Test(2, LockKind::kWrite, 50, 150);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->owner, 1u);
  EXPECT_EQ(c->range.first, 0u);
  EXPECT_EQ(c->range.last, 99u);
  EXPECT_EQ(c->kind, LockKind::kRead);
  EXPECT_FALSE(Test(2, LockKind::kWrite, 100, kEnd));  // adjacent, not overlapping
  EXPECT_FALSE(Test(1, LockKind::kWrite, 0, kEnd));    // an owner never conflicts with itself
  EXPECT_TRUE(Test(2, LockKind::kWrite, 0, 0, /*waiters=*/false));
  EXPECT_FALSE(table_.Test(LockFile{1, 43}, 2, LockKind::kWrite, {0, kEnd}, true, now_));
}

TEST_F(LockTableTest, UnlockSplitsAndMergesAdjacentRanges) {
  table_.Set(file_, 1, LockKind::kWrite, {0, 99});
  table_.Unset(file_, 1, {40, 59});
  EXPECT_EQ(Locks(), (std::vector<std::string>{"1:0-39:W", "1:60-99:W"}));
  EXPECT_FALSE(Test(2, LockKind::kWrite, 40, 59));
  table_.Set(file_, 1, LockKind::kWrite, {40, 59});  // fills the hole: one range again
  EXPECT_EQ(Locks(), (std::vector<std::string>{"1:0-99:W"}));
  table_.Set(file_, 1, LockKind::kWrite, {100, kEnd});
  EXPECT_EQ(Locks(), (std::vector<std::string>{"1:0-end:W"}));
  table_.Unset(file_, 1, {0, kEnd});
  EXPECT_TRUE(Locks().empty());
  EXPECT_EQ(table_.lock_count(), 0u);
  table_.Unset(file_, 1, {0, 10});  // unlocking nothing is fine
}

TEST_F(LockTableTest, SettingPartOfARangeChangesItsKind) {
  table_.Set(file_, 1, LockKind::kRead, {0, 99});
  table_.Set(file_, 1, LockKind::kWrite, {20, 29});  // upgrade of a piece splits the read lock
  EXPECT_EQ(Locks(), (std::vector<std::string>{"1:0-19:R", "1:20-29:W", "1:30-99:R"}));
  EXPECT_FALSE(Test(2, LockKind::kRead, 0, 19));
  EXPECT_TRUE(Test(2, LockKind::kRead, 25, 25));
  table_.Set(file_, 1, LockKind::kRead, {20, 29});  // downgrade merges back
  EXPECT_EQ(Locks(), (std::vector<std::string>{"1:0-99:R"}));
}

TEST_F(LockTableTest, OwnersAreIndependent) {
  table_.Set(file_, 1, LockKind::kRead, {0, 9});
  table_.Set(file_, 2, LockKind::kRead, {5, 14});
  table_.Unset(file_, 1, {0, kEnd});
  EXPECT_EQ(Locks(), (std::vector<std::string>{"2:5-14:R"}));
  EXPECT_TRUE(table_.Holds(file_, 2));
  EXPECT_FALSE(table_.Holds(file_, 1));
  EXPECT_TRUE(table_.HoldsAny(2));
  table_.Set(LockFile{1, 43}, 2, LockKind::kWrite, {0, 0});
  table_.RemoveOwnerOnFile(file_, 2);
  EXPECT_TRUE(Locks().empty());
  EXPECT_TRUE(table_.HoldsAny(2));
  table_.RemoveOwner(2);
  EXPECT_FALSE(table_.HoldsAny(2));
}

TEST_F(LockTableTest, WaitersGetReleasedRangesFirstUntilTheyExpire) {
  table_.Set(file_, 1, LockKind::kWrite, {0, kEnd});
  ASSERT_TRUE(Test(2, LockKind::kWrite, 0, 9));
  table_.Wait(file_, 2, LockKind::kWrite, {0, 9}, now_, now_ + 30s);
  ASSERT_TRUE(Test(3, LockKind::kWrite, 0, 9));
  table_.Wait(file_, 3, LockKind::kWrite, {0, 9}, now_, now_ + 30s);
  table_.Unset(file_, 1, {0, kEnd});
  // Owner 4 never waited and owner 3 queued after 2: both are held off by owner 2's reservation.
  auto c = Test(4, LockKind::kRead, 5, 5);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->owner, 2u);
  EXPECT_TRUE(Test(3, LockKind::kWrite, 0, 9));
  EXPECT_FALSE(Test(4, LockKind::kWrite, 10, 20));  // outside every waiter's range
  EXPECT_FALSE(Test(2, LockKind::kWrite, 0, 9));
  table_.Set(file_, 2, LockKind::kWrite, {0, 9});  // owner 2 takes it; its wait ends
  table_.Unset(file_, 2, {0, 9});
  EXPECT_FALSE(Test(3, LockKind::kWrite, 0, 9));
  c = Test(4, LockKind::kWrite, 0, 9);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->owner, 3u);
  now_ += 31s;  // owner 3 never came back
  EXPECT_FALSE(Test(4, LockKind::kWrite, 0, 9));
}

TEST_F(LockTableTest, AHolderIsNotQueuedBehindItsOwnWaiters) {
  table_.Set(file_, 1, LockKind::kRead, {0, 99});
  table_.Wait(file_, 2, LockKind::kWrite, {0, 99}, now_, now_ + 30s);
  EXPECT_FALSE(Test(1, LockKind::kWrite, 0, 99));  // owner 1 upgrades what it holds
  table_.RemoveOwner(2);
  table_.Unset(file_, 1, {0, kEnd});
  EXPECT_FALSE(Test(3, LockKind::kWrite, 0, 99));  // the removed waiter reserves nothing
}

}  // namespace
}  // namespace bucketfs::nfs
