#include "base/metrics.h"

#include <gtest/gtest.h>

#include <thread>

namespace bucketfs {
namespace {

TEST(MetricsTest, ExpositionFormat) {
  MetricsRegistry r;
  r.GetCounter("t_requests_total", "Requests by op.", {{"op", "GET"}}).Inc(3);
  r.GetCounter("t_requests_total", "ignored", {{"op", "HEAD"}}).Inc();
  r.GetGauge("t_open", "Open things.").Set(-2);
  Histogram& h = r.GetHistogram("t_latency_seconds", "Latency.", {{"op", "GET"}}, {0.1, 1});
  h.Observe(0.05);
  h.Observe(0.1);  // le is inclusive
  h.Observe(5);
  r.SetCallback("t_cache_bytes", "Bytes \\ cached.\nsecond line", MetricsRegistry::Type::kGauge,
                [] {
                  return std::vector<MetricsRegistry::Sample>{{{{"tier", "memory"}}, 1.5},
                                                              {{{"tier", "disk"}}, 4096}};
                });
  EXPECT_EQ(r.Render(),
            "# HELP t_cache_bytes Bytes \\\\ cached.\\nsecond line\n"
            "# TYPE t_cache_bytes gauge\n"
            "t_cache_bytes{tier=\"memory\"} 1.5\n"
            "t_cache_bytes{tier=\"disk\"} 4096\n"
            "# HELP t_latency_seconds Latency.\n"
            "# TYPE t_latency_seconds histogram\n"
            "t_latency_seconds_bucket{op=\"GET\",le=\"0.1\"} 2\n"
            "t_latency_seconds_bucket{op=\"GET\",le=\"1\"} 2\n"
            "t_latency_seconds_bucket{op=\"GET\",le=\"+Inf\"} 3\n"
            "t_latency_seconds_sum{op=\"GET\"} 5.15\n"
            "t_latency_seconds_count{op=\"GET\"} 3\n"
            "# HELP t_open Open things.\n"
            "# TYPE t_open gauge\n"
            "t_open -2\n"
            "# HELP t_requests_total Requests by op.\n"
            "# TYPE t_requests_total counter\n"
            "t_requests_total{op=\"GET\"} 3\n"
            "t_requests_total{op=\"HEAD\"} 1\n");
}

TEST(MetricsTest, LabelValuesAreEscaped) {
  EXPECT_EQ(RenderLabels({{"path", "a\"b\\c\nd"}}), "{path=\"a\\\"b\\\\c\\nd\"}");
  EXPECT_EQ(RenderLabels({}), "");
}

TEST(MetricsTest, SameNameAndLabelsIsTheSameSeries) {
  MetricsRegistry r;
  Counter& a = r.GetCounter("x_total", "x", {{"k", "v"}});
  Counter& b = r.GetCounter("x_total", "x", {{"k", "v"}});
  EXPECT_EQ(&a, &b);
  // A name reused with another type gets a detached object, never rendered.
  r.GetGauge("x_total", "x").Set(7);
  EXPECT_EQ(r.Render().find(" 7\n"), std::string::npos);
}

TEST(MetricsTest, ConcurrentIncrementsAddUp) {
  MetricsRegistry r;
  Counter& c = r.GetCounter("c_total", "c");
  Histogram& h = r.GetHistogram("h_seconds", "h", {}, LatencyBuckets());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100000; ++i) {
        c.Inc();
        h.Observe(0.001);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.Value(), 400000u);
  EXPECT_EQ(h.Count(), 400000u);
  EXPECT_NEAR(h.Sum(), 400.0, 1e-6);
}

}  // namespace
}  // namespace bucketfs
