// Metrics: counters, gauges and histograms rendered in the Prometheus text exposition format
// (version 0.0.4), for the gateway's metrics endpoint.
//
// Recording is lock-free: Counter::Inc and Histogram::Observe are relaxed atomic adds, cheap
// enough for every NFS operation and S3 request. Registration (Counter(), Histogram(),
// Callback()) takes the registry's mutex and returns a reference that stays valid for the
// registry's lifetime; do it once, up front, and keep the reference. Callback series are
// evaluated at scrape time (for values another component already counts, e.g. the block cache's
// statistics).
//
// Registry choice: the process has one default registry, DefaultMetrics(), because what it
// measures (S3 requests, NFS operations, the cache) is process-wide and every layer records into
// it without plumbing a pointer through each options struct. Tests that check values build their
// own MetricsRegistry, or read differences on the default one.
//
// Thread-safety: every method of every class here is safe from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace bucketfs {

// Label pairs in order, e.g. {{"op", "READ"}, {"status", "ok"}}.
using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void Inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void Set(int64_t v) { value_.store(v, std::memory_order_relaxed); }
  void Add(int64_t d) { value_.fetch_add(d, std::memory_order_relaxed); }
  int64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// Observations in seconds (or any unit) into fixed upper bounds; the sum is kept in
// nanounits so that it can be an integer atomic.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);
  // Per-bucket counts (not cumulative), the +Inf bucket last.
  std::vector<uint64_t> Counts() const;
  uint64_t Count() const { return count_.load(std::memory_order_relaxed); }
  double Sum() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1
  std::atomic<uint64_t> count_{0};
  std::atomic<int64_t> sum_nano_{0};
};

// Latency buckets from 50 µs to 10 s.
std::vector<double> LatencyBuckets();

class MetricsRegistry {
 public:
  enum class Type { kCounter, kGauge, kHistogram };
  // A callback yields (labels, value) pairs at scrape time.
  using Sample = std::pair<Labels, double>;
  using CallbackFn = std::function<std::vector<Sample>()>;

  // The same name and labels return the same object. `help` and the type are taken from the
  // first registration of a name; a name reused with another type is a programming error
  // (reported by returning a detached object that is never rendered).
  Counter& GetCounter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge& GetGauge(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram& GetHistogram(const std::string& name, const std::string& help, const Labels& labels,
                          std::vector<double> bounds);
  // Adds a callback family; a second callback under the same name replaces the first.
  void SetCallback(const std::string& name, const std::string& help, Type type, CallbackFn fn);

  // The whole registry in the text exposition format, families sorted by name.
  std::string Render() const;

 private:
  struct Family {
    std::string help;
    Type type = Type::kCounter;
    std::map<std::string, std::unique_ptr<Counter>> counters;  // by rendered label set
    std::map<std::string, std::unique_ptr<Gauge>> gauges;
    std::map<std::string, std::unique_ptr<Histogram>> histograms;
    CallbackFn callback;
  };
  Family* FamilyFor(const std::string& name, const std::string& help, Type type);

  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
  std::vector<std::unique_ptr<Counter>> detached_counters_;
  std::vector<std::unique_ptr<Gauge>> detached_gauges_;
  std::vector<std::unique_ptr<Histogram>> detached_histograms_;
};

MetricsRegistry& DefaultMetrics();

// `{k="v",...}` with label values escaped as the exposition format requires; "" for no labels.
std::string RenderLabels(const Labels& labels);

}  // namespace bucketfs
