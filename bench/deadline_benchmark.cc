// SPDX-License-Identifier: Apache-2.0
// Deadline overshoot: how late the work under a 5 ms deadline learns that
// it is over, with every core busy polling (two pollers on two cores).
//   Tbbx      with_timeout + tbbx::parallel_for, pollers check ctx.done()
//   Watchdog  a hand-written std::thread that sleeps until the deadline and
//             raises a std::atomic<bool> the pollers check
// Counters: overshoot percentiles (first poller to see the end, minus the
// deadline). IdleWait: a 150 us deadline awaited with ctx.wait() on an idle
// machine (the precision hedged requests need).
#include <benchmark/benchmark.h>
#include <oneapi/tbb/parallel_for.h>

#include <atomic>
#include <thread>
#include <vector>

#include "bench_support.h"
#include "tbbx/tbbx.h"

namespace {

using namespace std::chrono_literals;
using tbbx::bench::Clock;
using tbbx::bench::micros;

constexpr auto kDeadline = 5ms;
constexpr int kTrials = 300;

// first_seen records the first time any poller saw the end.
struct first_seen {
  std::atomic<bool> seen{false};
  Clock::time_point when;
  void mark() {
    const auto now = Clock::now();
    if (!seen.exchange(true)) when = now;
  }
};

void BM_DeadlineOvershoot_Tbbx(benchmark::State& state) {
  std::vector<double> overshoot;
  for (auto _ : state) {
    auto [ctx, cancel] = tbbx::with_timeout(tbbx::background(), kDeadline);
    first_seen first;
    try {
      tbbx::parallel_for(
          ctx, 0, 2,
          [&](int) {
            while (!ctx.done()) {
            }
            first.mark();
          },
          tbb::simple_partitioner());
    } catch (const tbbx::deadline_exceeded_error&) {
    }
    overshoot.push_back(micros(first.when - *ctx.deadline()));
  }
  tbbx::bench::report_latency(state, std::move(overshoot));
}
BENCHMARK(BM_DeadlineOvershoot_Tbbx)
    ->Iterations(kTrials)
    ->Unit(benchmark::kMillisecond);

void BM_DeadlineOvershoot_Watchdog(benchmark::State& state) {
  std::vector<double> overshoot;
  for (auto _ : state) {
    const auto deadline = Clock::now() + kDeadline;
    std::atomic<bool> expired{false};
    std::thread watchdog([&] {
      std::this_thread::sleep_until(deadline);
      expired.store(true, std::memory_order_release);
    });
    first_seen first;
    tbb::parallel_for(
        0, 2,
        [&](int) {
          while (!expired.load(std::memory_order_acquire)) {
          }
          first.mark();
        },
        tbb::simple_partitioner());
    watchdog.join();
    overshoot.push_back(micros(first.when - deadline));
  }
  tbbx::bench::report_latency(state, std::move(overshoot));
}
BENCHMARK(BM_DeadlineOvershoot_Watchdog)
    ->Iterations(kTrials)
    ->Unit(benchmark::kMillisecond);

void BM_DeadlineOvershoot_IdleWait(benchmark::State& state) {
  std::vector<double> overshoot;
  for (auto _ : state) {
    auto [ctx, cancel] = tbbx::with_timeout(tbbx::background(), 150us);
    ctx.wait();
    overshoot.push_back(micros(Clock::now() - *ctx.deadline()));
  }
  tbbx::bench::report_latency(state, std::move(overshoot));
}
BENCHMARK(BM_DeadlineOvershoot_IdleWait)->Iterations(2000);

void BM_DeadlineOvershoot_IdleSleepUntil(benchmark::State& state) {
  std::vector<double> overshoot;
  for (auto _ : state) {
    const auto deadline = Clock::now() + 150us;
    std::this_thread::sleep_until(deadline);
    overshoot.push_back(micros(Clock::now() - deadline));
  }
  tbbx::bench::report_latency(state, std::move(overshoot));
}
BENCHMARK(BM_DeadlineOvershoot_IdleSleepUntil)->Iterations(2000);

}  // namespace

BENCHMARK_MAIN();
