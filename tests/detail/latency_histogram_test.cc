// SPDX-License-Identifier: Apache-2.0
// White-box tests of the hedger's streaming quantile estimator.
#include "tbbx/patterns/detail/latency_histogram.h"

#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using tbbx::detail::latency_histogram;

TEST(LatencyHistogram, BucketsCoverValuesWithinSixPercent) {
  for (std::uint64_t v :
       {1ull, 15ull, 16ull, 17ull, 1000ull, 123456ull, 999'999'999ull}) {
    const std::size_t b = latency_histogram::bucket_of(v);
    const std::uint64_t upper = latency_histogram::upper_edge(b);
    EXPECT_GT(upper, v);
    EXPECT_LE(static_cast<double>(upper), v * 1.0625 + 1) << v;
  }
}

TEST(LatencyHistogram, QuantilesOfAKnownMix) {
  latency_histogram h(1'000'000);
  EXPECT_FALSE(h.quantile(0.5).has_value());
  for (int i = 0; i < 980; ++i) h.record(100us);
  for (int i = 0; i < 20; ++i) h.record(10ms);
  EXPECT_FALSE(h.quantile(0.5, 2000).has_value());  // too few samples
  const auto p50 = *h.quantile(0.50);
  const auto p95 = *h.quantile(0.95);
  const auto p99 = *h.quantile(0.99);
  EXPECT_GE(p50, 100us);
  EXPECT_LE(p50, 107us);
  EXPECT_LE(p95, 107us);  // 98% are fast
  EXPECT_GE(p99, 10ms);
  EXPECT_LE(p99, 10700us);
}

TEST(LatencyHistogram, DecayFollowsAWorkloadThatChanges) {
  latency_histogram h(1000);
  for (int i = 0; i < 5000; ++i) h.record(1ms);
  EXPECT_LE(*h.quantile(0.95), 1100us);
  for (int i = 0; i < 5000; ++i) h.record(100us);  // the workload got faster
  EXPECT_LE(*h.quantile(0.95), 110us);
  EXPECT_LE(h.recent_samples(), 2100u);  // bounded by the half life
}

TEST(LatencyHistogram, ConcurrentRecordsAreNotLost) {
  latency_histogram h(1u << 30);  // no halving during the test
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50'000; ++i) h.record(std::chrono::nanoseconds(i));
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(h.recent_samples(), 200'000u);
}

}  // namespace
