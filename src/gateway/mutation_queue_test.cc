#include "gateway/mutation_queue.h"

#include <gtest/gtest.h>

#include <future>
#include <thread>

namespace bucketfs::gateway {
namespace {

using Clock = std::chrono::steady_clock;

Mutation Move(int64_t id, std::string src, std::string dst, bool dir) {
  Mutation m;
  m.id = id;
  m.kind = Mutation::Kind::kMove;
  m.src = std::move(src);
  m.dst = std::move(dst);
  m.is_dir = dir;
  return m;
}

Mutation Upload(int64_t id, uint64_t ino, std::optional<Clock::time_point> ready) {
  Mutation m;
  m.id = id;
  m.kind = Mutation::Kind::kUpload;
  m.ino = ino;
  m.ready_at = ready;
  return m;
}

TEST(MutationQueueTest, OverlappingMutationsRunInOrderOthersInParallel) {
  MutationQueue q;
  const auto now = Clock::now();
  q.Add(Move(1, "a/", "b/", true));
  q.Add(Upload(2, 10, now));  // writes b/x: after the move
  q.Add(Upload(3, 11, now));  // writes c: independent
  auto key = [](uint64_t ino) {
    return std::vector<std::string>{ino == 10 ? std::string("b/x") : std::string("c")};
  };
  auto first = q.TakeRunnable(8, now, key, nullptr);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].id, 1);
  EXPECT_EQ(first[1].id, 3);
  EXPECT_TRUE(q.TakeRunnable(8, now, key, nullptr).empty());
  q.Finish(1);
  auto second = q.TakeRunnable(8, now, key, nullptr);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].id, 2);
}

// An upload whose inode is removed while its PUT is in flight no longer has a key of its own;
// the delete queued after it must still wait for it, or the PUT lands after the DELETE.
TEST(MutationQueueTest, RunningUploadKeepsItsKeysAfterItsInodeIsGone) {
  MutationQueue q;
  const auto now = Clock::now();
  bool removed = false;
  auto key = [&](uint64_t) {
    return removed ? std::vector<std::string>{} : std::vector<std::string>{"f"};
  };
  q.Add(Upload(1, 7, now));
  ASSERT_EQ(q.TakeRunnable(8, now, key, nullptr).size(), 1u);
  EXPECT_TRUE(q.HasUpload(7));
  removed = true;
  Mutation del;
  del.id = 2;
  del.kind = Mutation::Kind::kDelete;
  del.src = "f";
  q.Add(del);
  EXPECT_TRUE(q.TakeRunnable(8, now, key, nullptr).empty());
  q.Finish(1);
  EXPECT_FALSE(q.HasUpload(7));
  auto next = q.TakeRunnable(8, now, key, nullptr);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].id, 2);
}

// The inode table (which answers upload_key) calls PendingAway() while it holds its own lock; a
// queue that called upload_key under its lock deadlocked two threads that way.
TEST(MutationQueueTest, UploadKeysAreLookedUpWithoutTheQueueLocked) {
  MutationQueue q;
  const auto now = Clock::now();
  q.Add(Upload(1, 10, now));
  Mutation del;
  del.id = 2;
  del.kind = Mutation::Kind::kDelete;
  del.src = "gone";
  q.Add(del);
  bool answered_in_time = false;
  std::promise<bool> asked;
  std::thread other;
  auto key = [&](uint64_t) {
    // Another thread asks the queue, as the inode table's ApplyListing does.
    other = std::thread([&] { asked.set_value(q.PendingAway("gone")); });
    answered_in_time =
        asked.get_future().wait_for(std::chrono::seconds(5)) == std::future_status::ready;
    return std::vector<std::string>{"f"};
  };
  // On failure this call waits for the 5 s timeout, then the test fails.
  EXPECT_EQ(q.TakeRunnable(8, now, key, nullptr).size(), 2u);
  other.join();  // on failure, the other thread got the lock once TakeRunnable returned
  EXPECT_TRUE(answered_in_time);
}

// An upload queued while the keys are being looked up is started by the next pass, and nothing
// after it starts before it.
TEST(MutationQueueTest, UploadQueuedDuringTheLookupWaitsForTheNextPass) {
  MutationQueue q;
  const auto now = Clock::now();
  q.Add(Upload(1, 10, now));
  auto key = [&](uint64_t ino) {
    if (ino == 10 && q.size() == 1) {
      q.Add(Upload(2, 11, now));
      q.Add(Move(3, "g", "h", false));  // after the new upload: must wait for it
    }
    return std::vector<std::string>{ino == 10 ? std::string("f") : std::string("g")};
  };
  auto first = q.TakeRunnable(8, now, key, nullptr);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].id, 1);
  auto second = q.TakeRunnable(8, now, key, nullptr);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].id, 2);  // the move of g waits for the upload of g
}

TEST(MutationQueueTest, UploadsWaitForTheirTimeAndReportIt) {
  MutationQueue q;
  const auto now = Clock::now();
  q.Add(Upload(1, 5, std::nullopt));  // still open
  q.Add(Upload(2, 6, now + std::chrono::seconds(2)));
  std::optional<Clock::time_point> wake;
  auto key = [](uint64_t ino) { return std::vector<std::string>{"k" + std::to_string(ino)}; };
  EXPECT_TRUE(q.TakeRunnable(8, now, key, &wake).empty());
  ASSERT_TRUE(wake);
  EXPECT_EQ(*wake, now + std::chrono::seconds(2));
  q.SetReady(1, now);
  EXPECT_EQ(q.TakeRunnable(8, now, key, nullptr).size(), 1u);
  EXPECT_FALSE(q.Cancel(1));  // running
  EXPECT_TRUE(q.Cancel(2));
}

TEST(MutationQueueTest, ResolveFollowsMoveChainsUntilCopied) {
  MutationQueue q;
  q.Add(Move(1, "a/", "b/", true));
  q.Add(Move(2, "b/f", "c", false));
  EXPECT_EQ(q.Resolve("c"), "a/f");
  EXPECT_EQ(q.Resolve("b/g"), "a/g");
  EXPECT_EQ(q.Resolve("z"), "z");
  EXPECT_TRUE(q.PendingAway("a/"));
  EXPECT_TRUE(q.PendingAway("a/deep/x"));
  EXPECT_TRUE(q.PendingAway("b/f"));
  EXPECT_FALSE(q.PendingAway("c"));
  q.SetCopied(1);
  EXPECT_EQ(q.Resolve("c"), "b/f");
}

TEST(MutationQueueTest, OverlapRule) {
  EXPECT_TRUE(MutationQueue::Overlap("a/", "a/b"));
  EXPECT_TRUE(MutationQueue::Overlap("a/b", "a/"));
  EXPECT_TRUE(MutationQueue::Overlap("x", "x"));
  EXPECT_FALSE(MutationQueue::Overlap("a", "a/b"));  // a file "a" is not the prefix "a/"
  EXPECT_FALSE(MutationQueue::Overlap("ab/", "a/b"));
}

}  // namespace
}  // namespace bucketfs::gateway
