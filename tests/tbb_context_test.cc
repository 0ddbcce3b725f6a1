// SPDX-License-Identifier: Apache-2.0
// Contract tests of the oneTBB binding (README "oneTBB binding"): tbb_context
// and this_task::get_context, including oneTBB's traps (lazy binding,
// task_arena::execute cutting the tree, sticky cancellation).
#include "tbbx/context/tbb_context.h"

#include <gtest/gtest.h>
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>

#include <atomic>
#include <latch>
#include <thread>

#include "tbbx/context/algorithms.h"
#include "test_support.h"

namespace {

using namespace std::chrono_literals;
using tbbx::background;

TEST(TbbContext, NativeIsCanceledWhenTheContextEnds) {
  auto [ctx, cancel] = tbbx::with_cancel(background());
  tbbx::tbb_context bound(ctx);
  EXPECT_EQ(bound.get_context(), ctx);
  EXPECT_FALSE(bound.native().is_group_execution_cancelled());
  cancel();
  EXPECT_TRUE(bound.native().is_group_execution_cancelled());
}

TEST(TbbContext, NativeIsCanceledAtConstructionWhenAlreadyDone) {
  auto [ctx, cancel] = tbbx::with_timeout(background(), -1s);
  tbbx::tbb_context bound(ctx);
  tbb::task_group_context& native = bound;  // implicit conversion
  EXPECT_TRUE(native.is_group_execution_cancelled());
}

TEST(TbbContext, BackgroundNeverCancelsTheNativeContext) {
  tbbx::tbb_context bound(background());
  EXPECT_FALSE(bound.native().is_group_execution_cancelled());
}

TEST(TbbContext, DeadlineStopsARawOneTbbLoop) {
  auto [ctx, cancel] = tbbx::with_timeout(background(), 20ms);
  tbbx::tbb_context bound(ctx);
  std::atomic<long> chunks{0};
  tbb::parallel_for(
      tbb::blocked_range<long>(0, 1L << 40, 1),
      [&](const tbb::blocked_range<long>&) {
        chunks.fetch_add(1);
        std::this_thread::sleep_for(50us);
      },
      tbb::simple_partitioner(), bound.native());
  EXPECT_TRUE(ctx.done());  // returned only because of the deadline
  EXPECT_GT(chunks.load(), 0);
}

// task_arena::execute cuts oneTBB's context tree: a bound context first used
// inside execute() does not see an outer group's cancellation. tbbx cancels
// its native contexts directly, so the cut does not matter.
TEST(TbbContext, CancellationReachesWorkInsideAnotherArena) {
  tbb::task_arena arena(2);
  auto ctx_c = tbbx::with_cancel(background());
  auto& ctx = ctx_c.ctx;
  auto& cancel = ctx_c.cancel;
  std::latch started(1);
  std::atomic<bool> saw_done{false};
  std::thread canceler([&] {
    started.wait();
    cancel();
  });
  arena.execute([&] {
    EXPECT_THROW(tbbx::parallel_for(ctx, 0, 1 << 30,
                                    [&](int i) {
                                      if (i == 0) started.count_down();
                                      while (i == 0 && !ctx.done()) {
                                      }
                                      if (ctx.done()) saw_done = true;
                                    }),
                 tbbx::canceled_error);
  });
  canceler.join();
  EXPECT_TRUE(saw_done.load());
}

// task_group::wait() resets its context, un-canceling it: tasks run() later
// would execute although the tbbx context is done. The tbbx algorithms check
// the tbbx context itself, so a reset cannot revive them.
TEST(TbbContext, ResetByWaitDoesNotReviveTbbxWork) {
  auto [ctx, cancel] = tbbx::with_cancel(background());
  tbbx::tbb_context bound(ctx);
  tbb::task_group group(bound.native());
  cancel();
  group.run([] {});
  group.wait();  // resets bound.native()
  EXPECT_FALSE(bound.native().is_group_execution_cancelled());
  int runs = 0;
  EXPECT_THROW(tbbx::parallel_for(ctx, 0, 100, [&](int) { ++runs; }),
               tbbx::canceled_error);
  EXPECT_EQ(runs, 0);
}

TEST(ThisTask, IsBackgroundOutsideTbbxWork) {
  EXPECT_EQ(tbbx::this_task::get_context(), background());
  bool checked = false;
  tbb::parallel_for(0, 1, [&](int) {
    checked = tbbx::this_task::get_context() == background();
  });
  EXPECT_TRUE(checked);
}

TEST(ThisTask, IsTheAlgorithmsContextInsideItsBodies) {
  auto ctx_c = tbbx::with_cancel(background());
  auto& ctx = ctx_c.ctx;
  std::atomic<int> mismatches{0};
  tbbx::parallel_for(ctx, 0, 1000, [&](int) {
    if (!(tbbx::this_task::get_context() == ctx)) mismatches.fetch_add(1);
  });
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(tbbx::this_task::get_context(), background());  // restored
}

TEST(ThisTask, NestedAlgorithmsSeeTheirOwnContext) {
  auto outer_c = tbbx::with_cancel(background());
  auto& outer = outer_c.ctx;
  auto inner_c = tbbx::with_cancel(outer);
  auto& inner = inner_c.ctx;
  std::atomic<int> mismatches{0};
  tbbx::parallel_for(outer, 0, 8, [&](int) {
    tbbx::parallel_for(inner, 0, 8, [&](int) {
      if (!(tbbx::this_task::get_context() == inner)) mismatches.fetch_add(1);
    });
    if (!(tbbx::this_task::get_context() == outer)) mismatches.fetch_add(1);
  });
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
