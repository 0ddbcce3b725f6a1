// SPDX-License-Identifier: Apache-2.0
#include "tbbx/patterns/detail/latency_histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace tbbx::detail {

latency_histogram::latency_histogram(std::uint32_t half_life) noexcept
    : half_life_(std::max<std::uint32_t>(half_life, 1)) {}

std::size_t latency_histogram::bucket_of(std::uint64_t ns) noexcept {
  if (ns < sub_buckets) return static_cast<std::size_t>(ns);
  const int octave = std::bit_width(ns) - 1;          // >= 4
  const std::uint64_t mantissa = ns >> (octave - 4);  // in [16, 32)
  const std::size_t b =
      static_cast<std::size_t>(octave - 3) * sub_buckets + (mantissa - 16);
  return std::min<std::size_t>(b, buckets - 1);
}

std::uint64_t latency_histogram::upper_edge(std::size_t bucket) noexcept {
  if (bucket < sub_buckets) return bucket + 1;
  const int octave = static_cast<int>(bucket / sub_buckets) + 3;
  const std::uint64_t mantissa = bucket % sub_buckets + 16;
  return (mantissa + 1) << (octave - 4);
}

void latency_histogram::record(std::chrono::nanoseconds latency) noexcept {
  const auto ns =
      static_cast<std::uint64_t>(std::max<std::int64_t>(latency.count(), 0));
  counts_[bucket_of(ns)].fetch_add(1, std::memory_order_relaxed);
  if (since_halving_.fetch_add(1, std::memory_order_relaxed) + 1 >=
      half_life_) {
    halve();
  }
}

void latency_histogram::halve() noexcept {
  std::unique_lock lock(halving_mu_, std::try_to_lock);
  if (!lock.owns_lock()) return;  // another thread is halving
  if (since_halving_.load(std::memory_order_relaxed) < half_life_) return;
  since_halving_.store(0, std::memory_order_relaxed);
  for (auto& count : counts_) {
    // fetch_sub, not store: a concurrent record() is never lost.
    count.fetch_sub(count.load(std::memory_order_relaxed) / 2,
                    std::memory_order_relaxed);
  }
}

std::uint64_t latency_histogram::recent_samples() const noexcept {
  std::uint64_t total = 0;
  for (const auto& count : counts_) {
    total += count.load(std::memory_order_relaxed);
  }
  return total;
}

std::optional<std::chrono::nanoseconds> latency_histogram::quantile(
    double q, std::uint32_t min_samples) const noexcept {
  std::array<std::uint32_t, buckets> snapshot;
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < buckets; ++i) {
    snapshot[i] = counts_[i].load(std::memory_order_relaxed);
    total += snapshot[i];
  }
  if (total == 0 || total < min_samples) return std::nullopt;
  q = std::clamp(q, 0.0, 1.0);
  const auto target = std::max<std::uint64_t>(
      1, static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total))));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < buckets; ++i) {
    seen += snapshot[i];
    if (seen >= target) {
      return std::chrono::nanoseconds(static_cast<std::int64_t>(upper_edge(i)));
    }
  }
  return std::chrono::nanoseconds(
      static_cast<std::int64_t>(upper_edge(buckets - 1)));
}

}  // namespace tbbx::detail
