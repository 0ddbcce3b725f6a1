// SPDX-License-Identifier: Apache-2.0
// Cancel latency: two tasks poll on two threads; one of them cancels, and we
// time from the cancel call until the algorithm's wait returns on the
// calling thread. tbbx (context::done() + tbbx::parallel_for) beside raw
// oneTBB (is_group_execution_cancelled() + cancel_group_execution()).
#include <benchmark/benchmark.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_group.h>

#include <atomic>
#include <vector>

#include "bench_support.h"
#include "tbbx/tbbx.h"

namespace {

using tbbx::bench::Clock;
using tbbx::bench::micros;

// The second poller to start records t0 and cancels.
struct race_start {
  std::atomic<int> started{0};
  Clock::time_point t0;
  bool second_to_start() {
    if (started.fetch_add(1) != 1) return false;
    t0 = Clock::now();
    return true;
  }
};

void BM_CancelLatency_Tbbx(benchmark::State& state) {
  std::vector<double> samples;
  for (auto _ : state) {
    auto [ctx, cancel] = tbbx::with_cancel(tbbx::background());
    race_start race;
    try {
      tbbx::parallel_for(
          ctx, 0, 2,
          [&](int) {
            if (race.second_to_start()) {
              cancel();
              return;
            }
            while (!ctx.done()) {
            }
          },
          tbb::simple_partitioner());
    } catch (const tbbx::canceled_error&) {
    }
    const auto latency = Clock::now() - race.t0;
    tbbx::bench::record_manual_time(state, samples, latency);
  }
  tbbx::bench::report_latency(state, std::move(samples));
}
BENCHMARK(BM_CancelLatency_Tbbx)->UseManualTime()->Iterations(20000);

// The binding alone: tbb_context + oneTBB's parallel_for, so no exception
// is thrown at the end. The difference to BM_CancelLatency_Tbbx is the cost
// of throwing ctx.cause() (rethrow + catch).
void BM_CancelLatency_TbbContextNoThrow(benchmark::State& state) {
  std::vector<double> samples;
  for (auto _ : state) {
    auto [ctx, cancel] = tbbx::with_cancel(tbbx::background());
    tbbx::tbb_context bound(ctx);
    race_start race;
    tbb::parallel_for(
        0, 2,
        [&](int) {
          if (race.second_to_start()) {
            cancel();
            return;
          }
          while (!ctx.done()) {
          }
        },
        tbb::simple_partitioner(), bound.native());
    const auto latency = Clock::now() - race.t0;
    tbbx::bench::record_manual_time(state, samples, latency);
  }
  tbbx::bench::report_latency(state, std::move(samples));
}
BENCHMARK(BM_CancelLatency_TbbContextNoThrow)
    ->UseManualTime()
    ->Iterations(20000);

void BM_CancelLatency_RawOneTbb(benchmark::State& state) {
  std::vector<double> samples;
  for (auto _ : state) {
    tbb::task_group_context native;
    race_start race;
    tbb::parallel_for(
        0, 2,
        [&](int) {
          if (race.second_to_start()) {
            native.cancel_group_execution();
            return;
          }
          while (!native.is_group_execution_cancelled()) {
          }
        },
        tbb::simple_partitioner(), native);
    const auto latency = Clock::now() - race.t0;
    tbbx::bench::record_manual_time(state, samples, latency);
  }
  tbbx::bench::report_latency(state, std::move(samples));
}
BENCHMARK(BM_CancelLatency_RawOneTbb)->UseManualTime()->Iterations(20000);

}  // namespace

BENCHMARK_MAIN();
