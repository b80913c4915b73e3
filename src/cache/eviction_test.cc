#include "cache/eviction.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

namespace bucketfs::cache {
namespace {

std::string Id(int i) { return "b" + std::to_string(i); }

// A cache of `capacity` unit-size entries driven by `policy`; returns hits over `trace`.
int Replay(EvictionPolicy& policy, std::size_t capacity, const std::vector<int>& trace) {
  std::set<std::string> cached;
  int hits = 0;
  for (int k : trace) {
    std::string id = Id(k);
    if (cached.count(id)) {
      ++hits;
      policy.Touch(id);
      continue;
    }
    while (cached.size() >= capacity) {
      auto v = policy.Evict();
      EXPECT_TRUE(v.has_value());
      if (!v) break;
      EXPECT_TRUE(cached.erase(*v)) << *v << " evicted but not cached";
    }
    policy.Insert(id, 1);
    cached.insert(id);
  }
  return hits;
}

TEST(EvictionTest, LruEvictsTheLeastRecentlyUsed) {
  LruPolicy lru;
  for (int i = 0; i < 3; ++i) lru.Insert(Id(i), 1);
  lru.Touch(Id(0));
  EXPECT_EQ(lru.Evict(), Id(1));
  EXPECT_EQ(lru.Evict(), Id(2));
  EXPECT_EQ(lru.Evict(), Id(0));
  EXPECT_FALSE(lru.Evict().has_value());
}

TEST(EvictionTest, EraseRemovesFromEitherPolicy) {
  for (PolicyKind kind : {PolicyKind::kLru, PolicyKind::kS3Fifo}) {
    auto p = MakePolicy(kind, 10);
    p->Insert(Id(1), 1);
    p->Insert(Id(2), 1);
    p->Erase(Id(1));
    EXPECT_EQ(p->size(), 1u);
    EXPECT_EQ(p->Evict(), Id(2));
    EXPECT_FALSE(p->Evict().has_value());
  }
}

TEST(EvictionTest, S3FifoDropsOneHitWondersFirst) {
  S3FifoPolicy p(10);
  p.Insert(Id(1), 1);
  p.Touch(Id(1));  // read again while in the small queue
  p.Insert(Id(2), 1);
  // 1 is promoted to main, 2 (never read again) is evicted.
  EXPECT_EQ(p.Evict(), Id(2));
}

TEST(EvictionTest, S3FifoGhostHitGoesStraightToMain) {
  S3FifoPolicy p(10);
  p.Insert(Id(1), 1);
  EXPECT_EQ(p.Evict(), Id(1));  // remembered in the ghost queue
  p.Insert(Id(1), 1);           // back soon: main
  for (int i = 2; i < 6; ++i) p.Insert(Id(i), 1);
  // The small queue is over its 10% share: its entries go before the main entry.
  EXPECT_EQ(p.Evict(), Id(2));
}

TEST(EvictionTest, ScanDoesNotFlushS3FifosHotSetButFlushesLrus) {
  // A hot set of 20 blocks read over and over, interleaved with a one-time scan of 10,000.
  std::vector<int> trace;
  int scan = 1000;
  for (int round = 0; round < 200; ++round) {
    for (int h = 0; h < 20; ++h) trace.push_back(h);
    for (int s = 0; s < 50; ++s) trace.push_back(scan++);
  }
  LruPolicy lru;
  S3FifoPolicy fifo(40);
  int lru_hits = Replay(lru, 40, trace);
  int fifo_hits = Replay(fifo, 40, trace);
  EXPECT_EQ(lru_hits, 0);  // each scan pushes the hot set out
  EXPECT_GT(fifo_hits, 200 * 20 * 9 / 10);
}

TEST(EvictionTest, S3FifoReinsertsMainEntriesReadSinceTheirLastPass) {
  S3FifoPolicy p(10);
  for (int i : {1, 2}) {
    p.Insert(Id(i), 1);
    p.Touch(Id(i));  // read while in the small queue
  }
  p.Insert(Id(3), 1);
  EXPECT_EQ(p.Evict(), Id(3));  // 1 and 2 move to main on the way; 3 was never read again
  p.Touch(Id(1));               // 1 is read in main: it gets another round
  EXPECT_EQ(p.Evict(), Id(2));
  EXPECT_EQ(p.Evict(), Id(1));
  EXPECT_FALSE(p.Evict().has_value());
}

TEST(EvictionTest, S3FifoSmallQueueShareIsInBytes) {
  S3FifoPolicy p(1000);  // small queue: 10% = 100 bytes
  p.Insert(Id(0), 1);
  EXPECT_EQ(p.Evict(), Id(0));  // into the ghost
  p.Insert(Id(0), 1);           // back: main
  p.Insert(Id(1), 60);          // small, under its share
  EXPECT_EQ(p.Evict(), Id(0));  // so main gives way
  p.Insert(Id(2), 60);          // small is now over its share
  EXPECT_EQ(p.Evict(), Id(1));
}

// Every policy, driven by a random mix of operations, evicts only entries it holds, each once,
// and empties completely.
TEST(EvictionTest, RandomOperationsKeepEveryPolicyConsistent) {
  for (PolicyKind kind : {PolicyKind::kLru, PolicyKind::kS3Fifo}) {
    auto p = MakePolicy(kind, 50);
    std::set<std::string> held;
    std::mt19937 rng(11);
    for (int step = 0; step < 20000; ++step) {
      const std::string id = Id(static_cast<int>(rng() % 200));
      switch (rng() % 4) {
        case 0:
        case 1:
          if (!held.count(id)) {
            p->Insert(id, 1 + rng() % 3);
            held.insert(id);
          } else {
            p->Touch(id);
          }
          break;
        case 2:
          p->Erase(id);
          held.erase(id);
          break;
        case 3:
          if (auto v = p->Evict()) {
            ASSERT_TRUE(held.erase(*v)) << PolicyName(kind) << " evicted " << *v;
          } else {
            ASSERT_TRUE(held.empty());
          }
          break;
      }
      ASSERT_EQ(p->size(), held.size());
    }
    while (auto v = p->Evict()) ASSERT_TRUE(held.erase(*v));
    EXPECT_TRUE(held.empty());
  }
}

TEST(EvictionTest, ParseAndName) {
  EXPECT_EQ(ParsePolicy("lru"), PolicyKind::kLru);
  EXPECT_EQ(ParsePolicy("s3fifo"), PolicyKind::kS3Fifo);
  EXPECT_FALSE(ParsePolicy("arc").has_value());
  EXPECT_EQ(PolicyName(PolicyKind::kS3Fifo), "s3fifo");
}

}  // namespace
}  // namespace bucketfs::cache
