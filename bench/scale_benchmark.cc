// SPDX-License-Identifier: Apache-2.0
// Scale: a million contexts and deadlines alive at once.
//
//   PendingTimeouts_{Tbbx,StdSet}  10^6 pending timeouts created, then
//        canceled oldest-first (fifo) or in random order; ns per operation
//        (counters create_ns, cancel_ns). The std peer is an ordered
//        std::set of (due time, id): what a hand-written timer queue with
//        cancel would use.
//   PendingTimeouts_MemoryFloor  the same counters for allocating,
//        touching and freeing 10^6 blocks of a deadline node's size in the
//        same orders: the floor this machine's memory sets under any queue.
//   TreeCancel/{wide,deep,random}  a 10^6-node context tree canceled from
//        its root: the root's cancel returns with every node done (checked);
//        the time is the cancel call's alone.
//   (Bytes per node: memory_benchmark.cc, which counts at the allocator.)
// The PendingTimeouts cases run on a warm heap (see warm_heap): a service
// that makes timeouts all day reuses freed memory; a fresh page costs a
// fault, which this paravirtualized VM makes dearer than a create itself,
// and glibc would otherwise hand the pages back between rounds.
//   ShortLivedChildren  10^7 short-lived children of one long-lived
//        parent: the parent's memory stays flat (rss_growth_kib).
#include <benchmark/benchmark.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <numeric>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "bench_support.h"
#include "tbbx/tbbx.h"

namespace {

using namespace std::chrono_literals;
using tbbx::bench::Clock;

constexpr std::size_t kMillion = 1'000'000;

// rss_bytes reads the resident set size from /proc (0 where unavailable).
std::size_t rss_bytes() {
  long pages = 0, resident = 0;
  if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<std::size_t>(resident) * 4096;
}

double ns_per(Clock::duration d, std::size_t n) {
  return std::chrono::duration<double, std::nano>(d).count() /
         static_cast<double>(n);
}

// warm_heap keeps freed memory in the process (glibc) and touches enough
// of it once for every case below, so that no case pays first-touch page
// faults the others do not.
void warm_heap() {
  static const bool warmed = [] {
#if defined(__GLIBC__)
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
#endif
    std::vector<void*> blocks(2 * kMillion);
    for (void*& b : blocks) {
      b = ::operator new(192);
      benchmark::DoNotOptimize(*static_cast<char*>(b) = 0);
    }
    for (void* b : blocks) ::operator delete(b);
    return true;
  }();
  benchmark::DoNotOptimize(warmed);
}

// timer_case: the arguments every PendingTimeouts case runs with.
void timer_case(benchmark::internal::Benchmark* b) {
  b->ArgName("random")->Arg(0)->Arg(1)->Iterations(3)->Unit(
      benchmark::kMillisecond);
}

// phase_times sums, over the iterations, the ns per operation of the
// two timed phases every PendingTimeouts case has: create(i) for each of
// 10^6 entries, then cancel(i) in the case's order.
struct phase_times {
  double create_ns = 0;
  double cancel_ns = 0;

  template <class Create, class Cancel>
  void run(const std::vector<std::size_t>& order, Create create,
           Cancel cancel) {
    const auto t0 = Clock::now();
    for (std::size_t i = 0; i < kMillion; ++i) create(i);
    const auto t1 = Clock::now();
    for (std::size_t i : order) cancel(i);
    const auto t2 = Clock::now();
    create_ns += ns_per(t1 - t0, kMillion);
    cancel_ns += ns_per(t2 - t1, kMillion);
  }

  // report sets the counters to the means over the iterations.
  void report(benchmark::State& state) const {
    const auto runs = static_cast<double>(state.iterations());
    state.counters["create_ns"] = create_ns / runs;
    state.counters["cancel_ns"] = cancel_ns / runs;
  }
};

// cancel_order is 0 for oldest-first, 1 for random.
std::vector<std::size_t> cancel_order(std::size_t n, bool random) {
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  if (random) std::shuffle(order.begin(), order.end(), std::mt19937_64(7));
  return order;
}

void BM_PendingTimeouts_Tbbx(benchmark::State& state) {
  warm_heap();
  const bool random = state.range(0) != 0;
  const auto order = cancel_order(kMillion, random);
  std::mt19937_64 rng(3);
  phase_times times;
  for (auto _ : state) {
    std::vector<tbbx::cancelable_context> timeouts;
    timeouts.reserve(kMillion);
    times.run(
        order,
        [&](std::size_t) {
          // Spread over an hour: every level of the timer queue is used.
          timeouts.push_back(tbbx::with_timeout(
              tbbx::background(),
              std::chrono::microseconds(rng() % 3'600'000'000)));
        },
        [&](std::size_t i) { timeouts[i].cancel(); });
    state.PauseTiming();
    timeouts.clear();
    state.ResumeTiming();
  }
  times.report(state);
}
BENCHMARK(BM_PendingTimeouts_Tbbx)->Apply(timer_case);

void BM_PendingTimeouts_StdSet(benchmark::State& state) {
  warm_heap();
  const bool random = state.range(0) != 0;
  const auto order = cancel_order(kMillion, random);
  std::mt19937_64 rng(3);
  phase_times times;
  using entry = std::pair<Clock::time_point, std::size_t>;
  for (auto _ : state) {
    std::set<entry> queue;
    std::vector<std::set<entry>::iterator> handles;
    handles.reserve(kMillion);
    times.run(
        order,
        [&](std::size_t i) {
          const auto due =
              Clock::now() + std::chrono::microseconds(rng() % 3'600'000'000);
          handles.push_back(queue.emplace(due, i).first);
        },
        [&](std::size_t i) { queue.erase(handles[i]); });
  }
  times.report(state);
}
BENCHMARK(BM_PendingTimeouts_StdSet)->Apply(timer_case);

// The memory floor under the two rows above: what any timer queue with a
// node per pending timeout pays on this machine before doing anything.
// create_ns: allocate 10^6 blocks of a deadline node's size and write one
// word of each (the fresh pages fault as they do for the nodes);
// cancel_ns: write one word of each block in the cancel order, then free
// it (a random-order cancel reaches its node through a cold handle).
void BM_PendingTimeouts_MemoryFloor(benchmark::State& state) {
  warm_heap();
  const bool random = state.range(0) != 0;
  const auto order = cancel_order(kMillion, random);
  constexpr std::size_t kNodeBytes = 160;  // sizeof(deadline_node) asks
  phase_times times;
  for (auto _ : state) {
    std::vector<char*> blocks;
    blocks.reserve(kMillion);
    times.run(
        order,
        [&](std::size_t) {
          blocks.push_back(static_cast<char*>(::operator new(kNodeBytes)));
          benchmark::DoNotOptimize(*blocks.back() = 1);
        },
        [&](std::size_t i) {
          benchmark::DoNotOptimize(*blocks[i] = 2);
          ::operator delete(blocks[i]);
        });
  }
  times.report(state);
}
BENCHMARK(BM_PendingTimeouts_MemoryFloor)->Apply(timer_case);

enum shape { wide = 0, deep = 1, random_tree = 2 };

// build_tree makes a tree of `n` cancel contexts under `root`: all children
// of the root (wide), one chain (deep) or each node under a random earlier
// one (random).
std::vector<tbbx::cancelable_context> build_tree(const tbbx::context& root,
                                                 shape s, std::size_t n) {
  std::vector<tbbx::cancelable_context> nodes;
  nodes.reserve(n);
  std::mt19937_64 rng(11);
  for (std::size_t i = 0; i < n; ++i) {
    const tbbx::context* parent = &root;
    if (i > 0 && s == deep) parent = &nodes[i - 1].ctx;
    if (i > 0 && s == random_tree) parent = &nodes[rng() % i].ctx;
    nodes.push_back(tbbx::with_cancel(*parent));
  }
  return nodes;
}

void BM_TreeCancel(benchmark::State& state) {
  const auto s = static_cast<shape>(state.range(0));
  for (auto _ : state) {
    auto [root, cancel_root] = tbbx::with_cancel(tbbx::background());
    auto nodes = build_tree(root, s, kMillion);
    // Manual time: the cancel call alone. (Pause/ResumeTiming around the
    // build counted ~100 ms per iteration that is neither: the random
    // tree's row read 120-170 ms when its cancel took 50-80.)
    const auto t0 = Clock::now();
    cancel_root();
    state.SetIterationTime(
        std::chrono::duration<double>(Clock::now() - t0).count());
    const bool all_done = std::all_of(
        nodes.begin(), nodes.end(), [](const tbbx::cancelable_context& c) {
          return c.ctx.done() && c.ctx.err() == tbbx::errc::canceled;
        });
    if (!all_done) state.SkipWithError("a node was not done after the cancel");
  }
  state.SetLabel(s == wide ? "wide" : s == deep ? "deep" : "random");
}
BENCHMARK(BM_TreeCancel)
    ->ArgName("shape")
    ->Arg(wide)
    ->Arg(deep)
    ->Arg(random_tree)
    ->Iterations(3)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

void BM_ShortLivedChildren(benchmark::State& state) {
  constexpr std::size_t kChildren = 10 * kMillion;
  auto [parent, cancel] = tbbx::with_cancel(tbbx::background());
  // Warm up: the node cache and allocator reach their steady state.
  for (int i = 0; i < 100'000; ++i) tbbx::with_cancel(parent).cancel();
  const std::size_t before = rss_bytes();
  double ns = 0;
  for (auto _ : state) {
    const auto t0 = Clock::now();
    for (std::size_t i = 0; i < kChildren; ++i) {
      auto child = tbbx::with_cancel(parent);
      benchmark::DoNotOptimize(child.ctx);
    }
    ns = ns_per(Clock::now() - t0, kChildren);
  }
  state.counters["rss_growth_kib"] =
      (static_cast<double>(rss_bytes()) - static_cast<double>(before)) / 1024;
  state.counters["ns_per_child"] = ns;
}
BENCHMARK(BM_ShortLivedChildren)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
