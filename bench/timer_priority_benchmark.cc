// SPDX-License-Identifier: Apache-2.0
// Deadline lateness under CPU contention: how late a context whose deadline
// passes is marked done, while normal-priority threads keep creating and
// dropping children of that very context (the pattern that once made a
// real-time timer thread spin on a lock held by a preempted thread).
//
//   OneCpu      every thread of the process pinned to one CPU, one thread
//               churning children of the parent whose deadline fires
//   AllCpusBusy one churning thread per CPU, no pinning
//
// Each runs with the timer thread at its default (real-time where allowed)
// and at normal priority (realtime:0). Lateness is taken when the timer
// marks the context done (a timer-safe probe callback reads the clock), so
// it does not include the scheduling delay of any thread woken afterwards.
// Counters: lateness p50/p99/max in microseconds.
#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "bench_support.h"
#include "tbbx/context/detail/node.h"
#include "tbbx/tbbx.h"

#if defined(__linux__)
#include <dirent.h>
#include <sched.h>

#include <cstdlib>
#endif

namespace {

using namespace std::chrono_literals;
using tbbx::bench::Clock;
using tbbx::bench::micros;

constexpr auto kDeadline = 2ms;
constexpr int kTrials = 300;

// done_probe records when the timer marks a context done.
struct done_probe : tbbx::detail::callback_node {
  done_probe() : callback_node(&fire, /*is_timer_safe=*/true) {}
  static void fire(callback_node* self) noexcept {
    auto* p = static_cast<done_probe*>(self);
    p->when.store(Clock::now(), std::memory_order_relaxed);
    p->seen.store(true, std::memory_order_release);
  }
  std::atomic<Clock::time_point> when{};
  std::atomic<bool> seen{false};
};

#if defined(__linux__)
// pin_process sets the CPU mask of every thread of the process (threads
// started later inherit their creator's).
void pin_process(const cpu_set_t& mask) {
  if (DIR* tasks = opendir("/proc/self/task")) {
    while (dirent* e = readdir(tasks)) {
      const int tid = std::atoi(e->d_name);
      if (tid > 0) sched_setaffinity(tid, sizeof(mask), &mask);
    }
    closedir(tasks);
  }
}
#endif

// churn keeps creating and dropping children of the current parent.
struct churn {
  std::atomic<tbbx::context*> parent{nullptr};
  std::atomic<bool> stop{false};
  std::atomic<long> children{0};
  void operator()() {
    while (!stop.load(std::memory_order_relaxed)) {
      tbbx::context* p = parent.load(std::memory_order_acquire);
      if (p == nullptr) continue;
      auto child = tbbx::with_cancel(*p);
      child.cancel();
      children.fetch_add(1, std::memory_order_relaxed);
    }
  }
};

// measure runs kTrials deadlines while `threads` churn, and reports the
// lateness percentiles.
void measure(benchmark::State& state, int threads) {
  tbbx::set_timer_options({.realtime = state.range(0) != 0});
  std::vector<double> lateness;
  churn work;
  // The parents outlive the churning threads' use of them.
  std::vector<tbbx::cancelable_context> parents;
  parents.reserve(kTrials + 1);
  std::vector<std::thread> churners;
  for (int i = 0; i < threads; ++i) churners.emplace_back(std::ref(work));
  for (auto _ : state) {
    parents.push_back(tbbx::with_timeout(tbbx::background(), kDeadline));
    tbbx::context& ctx = parents.back().ctx;
    done_probe probe;
    tbbx::detail::node* n = tbbx::detail::context_access::get(ctx);
    if (!tbbx::detail::register_callback(n, &probe)) {
      probe.fire(&probe);  // already done
    }
    work.parent.store(&ctx, std::memory_order_release);
    ctx.wait();
    while (!probe.seen.load(std::memory_order_acquire)) {
      std::this_thread::yield();
    }
    lateness.push_back(micros(probe.when.load() - *ctx.deadline()));
  }
  work.stop = true;
  for (auto& t : churners) t.join();
  state.counters["children"] = static_cast<double>(work.children.load());
  state.counters["realtime"] = tbbx::get_timer_status().realtime ? 1 : 0;
  tbbx::set_timer_options({});
  tbbx::bench::report_latency(state, std::move(lateness));
}

void BM_TimerLateness_OneCpu(benchmark::State& state) {
#if defined(__linux__)
  cpu_set_t saved;
  sched_getaffinity(0, sizeof(saved), &saved);
  int first = 0;
  while (first < CPU_SETSIZE && !CPU_ISSET(first, &saved)) ++first;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  // The timer must be running to be pinned too.
  {
    auto warm = tbbx::with_timeout(tbbx::background(), 1us);
    warm.ctx.wait();
  }
  pin_process(one);
  measure(state, 1);
  pin_process(saved);
#else
  state.SkipWithError("needs Linux CPU affinity");
#endif
}
BENCHMARK(BM_TimerLateness_OneCpu)
    ->ArgName("realtime")
    ->Arg(1)
    ->Arg(0)
    ->Iterations(kTrials)
    ->Unit(benchmark::kMillisecond);

void BM_TimerLateness_AllCpusBusy(benchmark::State& state) {
  measure(state, static_cast<int>(std::thread::hardware_concurrency()));
}
BENCHMARK(BM_TimerLateness_AllCpusBusy)
    ->ArgName("realtime")
    ->Arg(1)
    ->Arg(0)
    ->Iterations(kTrials)
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
