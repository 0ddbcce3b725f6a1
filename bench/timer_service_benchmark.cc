// SPDX-License-Identifier: Apache-2.0
// The timer service under load: many deadlines at once.
//   ManyDeadlines/N  N contexts with deadlines spread over 50 ms; each
//                    records, in an on_done callback (run by the timer
//                    thread), how late it fired. Counters: lateness
//                    percentiles (us) over all N firings.
//   CancelBeforeDeadline/N  N timeouts made and canceled first: the heap
//                    insert and removal, per context (ns).
#include <benchmark/benchmark.h>

#include <chrono>
#include <random>
#include <vector>

#include "bench_support.h"
#include "tbbx/tbbx.h"

namespace {

using namespace std::chrono_literals;
using tbbx::bench::Clock;
using tbbx::bench::micros;

void BM_ManyDeadlines(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  std::vector<double> late_us;
  for (auto _ : state) {
    std::mt19937 rng(1);
    std::vector<Clock::time_point> deadlines(static_cast<std::size_t>(n));
    std::vector<Clock::time_point> fired(static_cast<std::size_t>(n));
    std::vector<tbbx::cancelable_context> contexts;
    std::vector<tbbx::callback_registration> regs;
    contexts.reserve(static_cast<std::size_t>(n));
    regs.reserve(static_cast<std::size_t>(n));
    // Far enough ahead that every context exists before the first fires.
    const auto start = Clock::now() + 30ms;
    for (std::size_t i = 0; i < deadlines.size(); ++i) {
      deadlines[i] = start + std::chrono::microseconds(rng() % 50'000);
      contexts.push_back(tbbx::with_deadline(tbbx::background(), deadlines[i]));
      // The callback only stamps the time: the figure is the timer's.
      regs.push_back(tbbx::on_done(contexts.back().ctx,
                                   [&fired, i] { fired[i] = Clock::now(); }));
    }
    for (auto& c : contexts) c.ctx.wait();
    regs.clear();
    for (std::size_t i = 0; i < deadlines.size(); ++i) {
      late_us.push_back(micros(fired[i] - deadlines[i]));
    }
  }
  tbbx::bench::report_latency(state, std::move(late_us));
}
BENCHMARK(BM_ManyDeadlines)
    ->Arg(1'000)
    ->Arg(10'000)
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond);

void BM_CancelBeforeDeadline(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  std::mt19937 rng(2);
  for (auto _ : state) {
    std::vector<tbbx::cancelable_context> contexts;
    contexts.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      contexts.push_back(tbbx::with_timeout(
          tbbx::background(), std::chrono::seconds(1 + rng() % 1000)));
    }
    contexts.clear();  // each cancel removes its heap entry
  }
  state.counters["sec_per_context"] = benchmark::Counter(
      static_cast<double>(n) * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_CancelBeforeDeadline)->Arg(10'000)->Arg(100'000);

}  // namespace

BENCHMARK_MAIN();
