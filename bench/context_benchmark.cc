// SPDX-License-Identifier: Apache-2.0
// The cost of asking "should I stop?" and of making cancelable contexts,
// tbbx beside its peers in one binary:
//   done()                   tbbx::context::done()
//   atomic_load              a plain std::atomic<bool> acquire load
//   stop_requested           std::stop_token::stop_requested()
//   tbb_is_cancelled tbb::task_group_context::is_group_execution_cancelled()
#include <benchmark/benchmark.h>
#include <oneapi/tbb/task_group.h>

#include <atomic>
#include <stop_token>

#include "bench_support.h"
#include "tbbx/tbbx.h"

namespace {

// Each check runs on a handle the loop can keep in a register, as a poll
// loop does; otherwise the benchmark measures reloading the handle.
void BM_Check_TbbxDone(benchmark::State& state) {
  auto [live, cancel] = tbbx::with_cancel(tbbx::background());
  const tbbx::context ctx = live;
  for (auto _ : state) benchmark::DoNotOptimize(ctx.done());
}
BENCHMARK(BM_Check_TbbxDone);

void BM_Check_AtomicLoad(benchmark::State& state) {
  std::atomic<bool> flag{false};
  for (auto _ : state) {
    benchmark::DoNotOptimize(flag.load(std::memory_order_acquire));
  }
}
BENCHMARK(BM_Check_AtomicLoad);

void BM_Check_StopRequested(benchmark::State& state) {
  std::stop_source source;
  const std::stop_token token = source.get_token();
  for (auto _ : state) benchmark::DoNotOptimize(token.stop_requested());
}
BENCHMARK(BM_Check_StopRequested);

void BM_Check_TbbIsCancelled(benchmark::State& state) {
  tbb::task_group_context native;
  for (auto _ : state) {
    benchmark::DoNotOptimize(native.is_group_execution_cancelled());
  }
}
BENCHMARK(BM_Check_TbbIsCancelled);

// The cost of a cancelable child of a live parent, canceled at once: the
// node, its link into the parent, the cancel and the unlink.
void BM_Create_WithCancelAndCancel(benchmark::State& state) {
  auto [parent, cancel_parent] = tbbx::with_cancel(tbbx::background());
  for (auto _ : state) {
    auto [ctx, cancel] = tbbx::with_cancel(parent);
    cancel();
    benchmark::DoNotOptimize(ctx.done());
  }
}
BENCHMARK(BM_Create_WithCancelAndCancel)->ThreadRange(1, 2);

void BM_Create_WithCancelOfBackground(benchmark::State& state) {
  for (auto _ : state) {
    auto [ctx, cancel] = tbbx::with_cancel(tbbx::background());
    cancel();
  }
}
BENCHMARK(BM_Create_WithCancelOfBackground);

// With a timer: one heap insertion and one removal.
void BM_Create_WithTimeoutAndCancel(benchmark::State& state) {
  auto [parent, cancel_parent] = tbbx::with_cancel(tbbx::background());
  for (auto _ : state) {
    auto [ctx, cancel] = tbbx::with_timeout(parent, std::chrono::hours(1));
    cancel();
  }
}
BENCHMARK(BM_Create_WithTimeoutAndCancel)->ThreadRange(1, 2);

// The peers: a std::stop_source with one stop_callback linking it to a
// parent (what hand-written propagation costs), and a bound oneTBB context.
void BM_Create_StopSourceWithCallback(benchmark::State& state) {
  std::stop_source parent;
  for (auto _ : state) {
    std::stop_source child;
    std::stop_callback link(parent.get_token(),
                            [&child]() noexcept { child.request_stop(); });
    child.request_stop();
  }
}
BENCHMARK(BM_Create_StopSourceWithCallback);

void BM_Create_TbbContextAndCancel(benchmark::State& state) {
  for (auto _ : state) {
    tbb::task_group_context native;
    native.cancel_group_execution();
  }
}
BENCHMARK(BM_Create_TbbContextAndCancel);

void BM_Value_LookupDepth8(benchmark::State& state) {
  static const tbbx::context_key<int> key("k");
  static const tbbx::context_key<int> other("other");
  tbbx::context ctx = tbbx::with_value(tbbx::background(), key, 1);
  for (int i = 0; i < 7; ++i) ctx = tbbx::with_value(ctx, other, i);
  for (auto _ : state) benchmark::DoNotOptimize(ctx.value(key));
}
BENCHMARK(BM_Value_LookupDepth8);

}  // namespace

BENCHMARK_MAIN();
