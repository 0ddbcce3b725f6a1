// SPDX-License-Identifier: Apache-2.0
// error_group beside tbb::task_group, in one binary:
//   FlatSpawn    10^6 tiny tasks spawned from one thread, then wait
//   NestedFib    fib(n) with a group per call (every call with n >= 2),
//                the classic divide-and-conquer test of per-group cost
//   Limit2       10^5 tasks of 1 us with at most 2 at a time:
//                error_group::set_limit(2) vs a task_arena(2)
//   FirstError   8 polling tasks; one fails: time from the throw until
//                wait() has rethrown it (all others stopped or skipped)
// Counter sec_per_task: wall time per task (printed with an SI suffix,
// 25.1n = 25.1 ns).
#include <benchmark/benchmark.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <vector>

#include "bench_support.h"
#include "tbbx/tbbx.h"

namespace {

using tbbx::bench::Clock;
using tbbx::bench::micros;

void set_ns_per_task(benchmark::State& state, double tasks_per_iteration) {
  state.counters["sec_per_task"] = benchmark::Counter(
      tasks_per_iteration * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

constexpr int kFlatTasks = 1'000'000;

void BM_FlatSpawn_ErrorGroup(benchmark::State& state) {
  std::atomic<long> sink{0};
  for (auto _ : state) {
    tbbx::error_group g;
    for (int i = 0; i < kFlatTasks; ++i) {
      g.go([&sink] { sink.fetch_add(1, std::memory_order_relaxed); });
    }
    g.wait();
  }
  set_ns_per_task(state, kFlatTasks);
}
BENCHMARK(BM_FlatSpawn_ErrorGroup)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_FlatSpawn_TaskGroup(benchmark::State& state) {
  std::atomic<long> sink{0};
  for (auto _ : state) {
    tbb::task_group g;
    for (int i = 0; i < kFlatTasks; ++i) {
      g.run([&sink] { sink.fetch_add(1, std::memory_order_relaxed); });
    }
    g.wait();
  }
  set_ns_per_task(state, kFlatTasks);
}
BENCHMARK(BM_FlatSpawn_TaskGroup)->Unit(benchmark::kMillisecond)->UseRealTime();

// Every call with n >= 2 makes its own group of two tasks.
long fib_error_group(int n) {
  if (n < 2) return n;
  long a = 0, b = 0;
  tbbx::error_group g(tbbx::this_task::get_context());
  g.go([&] { a = fib_error_group(n - 1); });
  g.go([&] { b = fib_error_group(n - 2); });
  g.wait();
  return a + b;
}

long fib_task_group(int n) {
  if (n < 2) return n;
  long a = 0, b = 0;
  tbb::task_group g;
  g.run([&] { a = fib_task_group(n - 1); });
  g.run([&] { b = fib_task_group(n - 2); });
  g.wait();
  return a + b;
}

double fib_tasks(int n) {  // tasks spawned by the two programs above
  long groups = 0;
  auto count = [&](auto& self, int k) -> void {
    if (k < 2) return;
    ++groups;
    self(self, k - 1);
    self(self, k - 2);
  };
  count(count, n);
  return 2.0 * static_cast<double>(groups);
}

void BM_NestedFib_ErrorGroup(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  for (auto _ : state) {
    // The root group makes the whole tree one cancellation tree.
    tbbx::error_group root;
    long result = 0;
    root.go([&] { result = fib_error_group(n); });
    root.wait();
    benchmark::DoNotOptimize(result);
  }
  set_ns_per_task(state, fib_tasks(n));
}
BENCHMARK(BM_NestedFib_ErrorGroup)
    ->DenseRange(25, 27)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_NestedFib_TaskGroup(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  for (auto _ : state) {
    tbb::task_group root;
    long result = 0;
    root.run([&] { result = fib_task_group(n); });
    root.wait();
    benchmark::DoNotOptimize(result);
  }
  set_ns_per_task(state, fib_tasks(n));
}
BENCHMARK(BM_NestedFib_TaskGroup)
    ->DenseRange(25, 27)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

constexpr int kLimitedTasks = 100'000;

void spin_for_one_microsecond() {
  const auto until = Clock::now() + std::chrono::microseconds(1);
  while (Clock::now() < until) {
  }
}

void BM_Limit2_ErrorGroup(benchmark::State& state) {
  for (auto _ : state) {
    tbbx::error_group g;
    g.set_limit(2);
    for (int i = 0; i < kLimitedTasks; ++i) g.go(spin_for_one_microsecond);
    g.wait();
  }
  set_ns_per_task(state, kLimitedTasks);
}
BENCHMARK(BM_Limit2_ErrorGroup)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Limit2_TaskArena2(benchmark::State& state) {
  tbb::task_arena arena(2);
  for (auto _ : state) {
    arena.execute([&] {
      tbb::task_group g;
      for (int i = 0; i < kLimitedTasks; ++i) g.run(spin_for_one_microsecond);
      g.wait();
    });
  }
  set_ns_per_task(state, kLimitedTasks);
}
BENCHMARK(BM_Limit2_TaskArena2)->Unit(benchmark::kMillisecond)->UseRealTime();

struct failure : std::runtime_error {
  failure() : std::runtime_error("first error") {}
};

// The first poller to run becomes the failer once a second one polls; the
// other six are queued behind them and must be skipped.
void BM_FirstError_ErrorGroup(benchmark::State& state) {
  std::vector<double> samples;
  for (auto _ : state) {
    tbbx::error_group g;
    std::atomic<int> started{0};
    Clock::time_point thrown;
    for (int i = 0; i < 8; ++i) {
      g.go([&](const tbbx::context& ctx) {
        if (started.fetch_add(1) == 0) {
          while (started.load() < 2) {
          }
          thrown = Clock::now();
          throw failure();
        }
        while (!ctx.done()) {
        }
      });
    }
    try {
      g.wait();
    } catch (const failure&) {
    }
    const auto latency = Clock::now() - thrown;
    tbbx::bench::record_manual_time(state, samples, latency);
  }
  tbbx::bench::report_latency(state, std::move(samples));
}
BENCHMARK(BM_FirstError_ErrorGroup)->UseManualTime()->Iterations(20000);

void BM_FirstError_TaskGroup(benchmark::State& state) {
  std::vector<double> samples;
  for (auto _ : state) {
    tbb::task_group g;
    std::atomic<int> started{0};
    Clock::time_point thrown;
    for (int i = 0; i < 8; ++i) {
      g.run([&] {
        if (started.fetch_add(1) == 0) {
          while (started.load() < 2) {
          }
          thrown = Clock::now();
          throw failure();
        }
        while (!tbb::is_current_task_group_canceling()) {
        }
      });
    }
    try {
      g.wait();
    } catch (const failure&) {
    }
    const auto latency = Clock::now() - thrown;
    tbbx::bench::record_manual_time(state, samples, latency);
  }
  tbbx::bench::report_latency(state, std::move(samples));
}
BENCHMARK(BM_FirstError_TaskGroup)->UseManualTime()->Iterations(20000);

}  // namespace

BENCHMARK_MAIN();
