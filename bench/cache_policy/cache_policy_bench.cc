// Replays block-access traces through the cache's eviction policies (LRU and S3-FIFO) at several
// cache sizes and prints hit ratios side by side, to choose the default policy by measurement.
//
// Traces (block ids; one block = one cache entry of equal size):
//   training   3 epochs of a shuffled scan over a dataset twice the cache, plus a small hot set
//              (configs, checkpoint shards, tokenizer files: 500 blocks) read between samples
//   zipf-0.9   random reads, Zipf-distributed popularity over 100,000 blocks
//   zipf-1.1   same, more skewed
//   scan+hot   a hot working set (2,000 blocks) read in loops while a one-off scan of a large file
//              (200,000 blocks) passes
// Also printed: the policy's cost per access (ns, this machine; both keep a hash map and lists).
//
// Usage: cache_policy_bench [seed]   (not run by CI; figures in docs/cache.md)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "cache/eviction.h"

namespace {

using bucketfs::cache::MakePolicy;
using bucketfs::cache::PolicyKind;

using Trace = std::vector<uint32_t>;

Trace Training(std::mt19937& rng, uint32_t dataset, uint32_t hot, int epochs) {
  Trace t;
  std::vector<uint32_t> order(dataset);
  for (uint32_t i = 0; i < dataset; ++i) order[i] = hot + i;
  for (int e = 0; e < epochs; ++e) {
    std::shuffle(order.begin(), order.end(), rng);
    for (uint32_t i = 0; i < dataset; ++i) {
      t.push_back(order[i]);
      if (i % 4 == 0) t.push_back(rng() % hot);  // the hot set, between samples
    }
  }
  return t;
}

Trace Zipf(std::mt19937& rng, uint32_t universe, double s, std::size_t n) {
  std::vector<double> cdf(universe);
  double sum = 0;
  for (uint32_t i = 0; i < universe; ++i) cdf[i] = sum += 1.0 / std::pow(i + 1.0, s);
  std::uniform_real_distribution<double> u(0, sum);
  // Scatter ranks over ids so that popularity does not follow id order.
  std::vector<uint32_t> ids(universe);
  for (uint32_t i = 0; i < universe; ++i) ids[i] = i;
  std::shuffle(ids.begin(), ids.end(), rng);
  Trace t;
  t.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto it = std::lower_bound(cdf.begin(), cdf.end(), u(rng));
    t.push_back(ids[static_cast<std::size_t>(it - cdf.begin())]);
  }
  return t;
}

Trace ScanPlusHot(std::mt19937& rng, uint32_t hot, uint32_t scan, int rounds) {
  Trace t;
  uint32_t next_scan = hot;
  for (int r = 0; r < rounds; ++r) {
    for (uint32_t i = 0; i < hot; ++i) t.push_back(rng() % hot);
    for (uint32_t i = 0; i < scan / rounds; ++i) t.push_back(next_scan++);
  }
  return t;
}

struct Outcome {
  double hit_ratio = 0;
  double ns_per_access = 0;
};

Outcome Replay(PolicyKind kind, std::size_t capacity, const Trace& trace) {
  auto policy = MakePolicy(kind, capacity);
  std::unordered_set<std::string> cached;
  std::size_t hits = 0;
  const auto start = std::chrono::steady_clock::now();
  for (uint32_t b : trace) {
    std::string id = std::to_string(b);
    if (cached.count(id)) {
      ++hits;
      policy->Touch(id);
      continue;
    }
    while (cached.size() >= capacity) {
      auto v = policy->Evict();
      if (!v) break;
      cached.erase(*v);
    }
    policy->Insert(id, 1);
    cached.insert(id);
  }
  const std::chrono::duration<double, std::nano> took = std::chrono::steady_clock::now() - start;
  if (trace.empty()) return {};
  const auto n = static_cast<double>(trace.size());
  return {static_cast<double>(hits) / n, took.count() / n};
}

void PrintRow(const char* name, std::size_t cache, const Trace& trace) {
  Outcome lru = Replay(PolicyKind::kLru, cache, trace);
  Outcome fifo = Replay(PolicyKind::kS3Fifo, cache, trace);
  std::printf("%-10s %7zu %9zu %8.1f%% %8.1f%% %7.2fx %7.0f %7.0f\n", name, cache, trace.size(),
              100 * lru.hit_ratio, 100 * fifo.hit_ratio,
              lru.hit_ratio > 0 ? fifo.hit_ratio / lru.hit_ratio : 0.0, lru.ns_per_access,
              fifo.ns_per_access);
}

}  // namespace

int main(int argc, char** argv) {
  const unsigned seed = argc > 1 ? static_cast<unsigned>(std::strtoul(argv[1], nullptr, 10)) : 42;
  std::mt19937 rng(seed);
  const std::size_t sizes[] = {1000, 5000, 10000};
  std::printf("%-10s %7s %9s %9s %9s %8s %7s %7s\n", "trace", "cache", "accesses", "LRU", "S3-FIFO",
              "ratio", "ns-LRU", "ns-S3F");
  for (std::size_t c : sizes) {
    PrintRow("training", c, Training(rng, static_cast<uint32_t>(2 * c), 500, 3));
  }
  struct Named {
    const char* name;
    Trace trace;
  };
  std::vector<Named> traces;
  traces.push_back({"zipf-0.9", Zipf(rng, 100000, 0.9, 400000)});
  traces.push_back({"zipf-1.1", Zipf(rng, 100000, 1.1, 400000)});
  traces.push_back({"scan+hot", ScanPlusHot(rng, 2000, 200000, 100)});
  for (const auto& t : traces) {
    for (std::size_t c : sizes) PrintRow(t.name, c, t.trace);
  }
  std::printf(
      "(ratio = S3-FIFO hit ratio / LRU hit ratio; cache sizes in blocks; ns = policy cost per "
      "access; seed %u)\n",
      seed);
  return 0;
}
