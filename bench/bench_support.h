// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the tbbx benchmarks: latency samples reported as
// percentile counters next to Google Benchmark's own timings.
#ifndef TBBX_BENCH_BENCH_SUPPORT_H_
#define TBBX_BENCH_BENCH_SUPPORT_H_

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <vector>

namespace tbbx::bench {

using Clock = std::chrono::steady_clock;

inline double micros(Clock::duration d) {
  return std::chrono::duration<double, std::micro>(d).count();
}

// percentile of `samples` (sorted in place), q in [0, 1].
inline double percentile(std::vector<double>& samples, double q) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  const auto index = static_cast<std::size_t>(q * (samples.size() - 1) + 0.5);
  return samples[std::min(index, samples.size() - 1)];
}

// record_manual_time reports `latency` as the iteration's (manual) time
// and keeps it as a sample in microseconds.
inline void record_manual_time(benchmark::State& state,
                               std::vector<double>& samples_us,
                               Clock::duration latency) {
  state.SetIterationTime(std::chrono::duration<double>(latency).count());
  samples_us.push_back(micros(latency));
}

// report_latency adds p50/p90/p99/max counters (microseconds) to `state`.
inline void report_latency(benchmark::State& state,
                           std::vector<double> samples_us) {
  state.counters["p50_us"] = percentile(samples_us, 0.50);
  state.counters["p90_us"] = percentile(samples_us, 0.90);
  state.counters["p99_us"] = percentile(samples_us, 0.99);
  state.counters["max_us"] = samples_us.empty() ? 0 : samples_us.back();
  state.counters["samples"] = static_cast<double>(samples_us.size());
}

}  // namespace tbbx::bench

#endif  // TBBX_BENCH_BENCH_SUPPORT_H_
