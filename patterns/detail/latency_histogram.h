// SPDX-License-Identifier: Apache-2.0
// latency_histogram: a streaming latency quantile estimator with decay.
// Internal; used by tbbx::hedger.
//
// Latencies go into log-linear buckets (16 per power of two, so a quantile
// is within 6.25% of the true sample), counted with relaxed atomics: no
// lock and no sort on the record path, 2.4 KiB whatever the traffic. Every
// `half_life` samples all counts are halved, so old samples fade and the
// estimate follows a workload that changes (the Tail at Scale paper and
// Finagle's backup requests use the same idea of a recent-window quantile).
// Thread-safe; a quantile read while samples are recorded or halved is an
// estimate within one bucket of a consistent one.
#ifndef TBBX_PATTERNS_DETAIL_LATENCY_HISTOGRAM_H_
#define TBBX_PATTERNS_DETAIL_LATENCY_HISTOGRAM_H_

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>

namespace tbbx::detail {

class latency_histogram {
 public:
  explicit latency_histogram(std::uint32_t half_life = 1000) noexcept;

  void record(std::chrono::nanoseconds latency) noexcept;

  // quantile returns the upper edge of the bucket holding the q-quantile
  // (0 < q <= 1) of the recent samples, or nullopt with fewer than
  // `min_samples` of them.
  std::optional<std::chrono::nanoseconds> quantile(
      double q, std::uint32_t min_samples = 1) const noexcept;

  // recent_samples is the decayed sample count.
  std::uint64_t recent_samples() const noexcept;

  static constexpr int sub_buckets = 16;
  static constexpr int buckets = sub_buckets * 38;  // up to ~2^41 ns (36 min)
  static std::size_t bucket_of(std::uint64_t ns) noexcept;
  static std::uint64_t upper_edge(std::size_t bucket) noexcept;

 private:
  void halve() noexcept;

  const std::uint32_t half_life_;
  std::array<std::atomic<std::uint32_t>, buckets> counts_{};
  std::atomic<std::uint32_t> since_halving_{0};
  std::mutex halving_mu_;  // one halving at a time
};

}  // namespace tbbx::detail

#endif  // TBBX_PATTERNS_DETAIL_LATENCY_HISTOGRAM_H_
