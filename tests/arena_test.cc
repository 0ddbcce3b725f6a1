// SPDX-License-Identifier: Apache-2.0
// Contract tests of tbbx::arena and of running patterns in a chosen arena.
#include "tbbx/scheduler/arena.h"

#include <gtest/gtest.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/version.h>

#include <atomic>
#include <latch>
#include <stdexcept>
#include <string>
#include <thread>

#include "tbbx/context/algorithms.h"
#include "tbbx/patterns/error_group.h"
#include "tbbx/patterns/hedge.h"
#include "test_support.h"

namespace {

using namespace std::chrono_literals;
using tbbx::arena;
using tbbx::background;
using tbbx::context;

TEST(Arena, DefaultArenaHasAWorkerPerHardwareThread) {
  arena& a = arena::default_arena();
  EXPECT_EQ(&a, &arena::default_arena());
  EXPECT_EQ(a.max_concurrency(),
            static_cast<int>(std::thread::hardware_concurrency()));
  EXPECT_FALSE(a.name().empty());
}

TEST(Arena, ExecuteRunsInsideAndPropagates) {
  arena one({.name = "one", .max_concurrency = 1});
  EXPECT_EQ(one.name(), "one");
  EXPECT_EQ(one.max_concurrency(), 1);
  int inside =
      one.execute([] { return tbb::this_task_arena::max_concurrency(); });
  EXPECT_EQ(inside, 1);
  EXPECT_THROW(one.execute([]() -> int { throw std::runtime_error("x"); }),
               std::runtime_error);
}

// one -> (plain execute) other -> one again. Until oneTBB 2021.11 a
// max_concurrency 1 arena had a spare slot and this ran; from then on its
// only slot is held by this thread further out, and tbbx throws instead of
// waiting forever. Re-entering from inside `one` itself is always fine, as
// is the same nesting into an arena with more than one slot.
TEST(Arena, ReenteringAOneSlotArenaThroughAnotherIsAnErrorNotAHang) {
  arena one({.name = "one", .max_concurrency = 1});
  arena two({.name = "two", .max_concurrency = 2});
  tbb::task_arena other(2);
  auto through_other = [&](arena& a) {
    return a.execute([&] {
      return other.execute([&] {
        return a.execute(
            [] { return tbb::this_task_arena::max_concurrency(); });
      });
    });
  };
  if (TBB_runtime_interface_version() >= 12110) {
    try {
      through_other(one);
      ADD_FAILURE() << "no error";
    } catch (const std::logic_error& e) {
      EXPECT_NE(std::string(e.what()).find("max_concurrency 1"),
                std::string::npos)
          << e.what();
    }
  } else {
    EXPECT_EQ(through_other(one), 1);
  }
  EXPECT_EQ(through_other(two), 2);
  EXPECT_EQ(one.execute([&] { return one.execute([] { return 7; }); }), 7);
}

TEST(Arena, BadOptionsAreRejected) {
  EXPECT_THROW(arena({.max_concurrency = 0}), std::invalid_argument);
  EXPECT_THROW(arena({.max_concurrency = -5}), std::invalid_argument);
  EXPECT_THROW(arena({.max_threads_per_core = 0}), std::invalid_argument);
#if !defined(__SANITIZE_ADDRESS__)
  // Asking oneTBB for the topology loads its tbbbind library with
  // RTLD_DEEPBIND, which AddressSanitizer refuses.
  EXPECT_THROW(arena({.numa_node = 4242}), std::invalid_argument);
  EXPECT_THROW(arena({.core_type = 4242}), std::invalid_argument);
#endif
}

TEST(Arena, EnqueuedTasksRunSideBySideWhileTheCallerBlocks) {
  arena two({.max_concurrency = 2});
  std::latch both(2);
  std::latch done(2);
  std::atomic<int> timed_out{0};
  for (int i = 0; i < 2; ++i) {
    two.enqueue([&] {
      both.count_down();
      const auto until = std::chrono::steady_clock::now() + 10s;
      while (!both.try_wait()) {
        if (std::chrono::steady_clock::now() > until) {
          timed_out++;
          break;
        }
      }
      done.count_down();
    });
  }
  done.wait();
  EXPECT_EQ(timed_out.load(), 0);
}

TEST(ArenaPatterns, ErrorGroupTasksRunInTheChosenArena) {
  arena one({.name = "single", .max_concurrency = 1});
  tbbx::error_group g(background(), {.arena = &one});
  std::atomic<int> in_one{0};
  for (int i = 0; i < 100; ++i) {
    g.go([&] {
      if (tbb::this_task_arena::max_concurrency() == 1) in_one++;
      g.go([&] {  // nested spawn from inside: also in the arena
        if (tbb::this_task_arena::max_concurrency() == 1) in_one++;
      });
    });
  }
  g.wait();
  EXPECT_EQ(in_one.load(), 200);
}

// task_arena::execute cuts oneTBB's context tree; tbbx cancellation does not
// depend on it, so canceling the parent reaches tasks in any arena.
TEST(ArenaPatterns, CancellationReachesWorkInsideTheArena) {
  arena other({.max_concurrency = 2});
  auto [parent, cancel] = tbbx::with_cancel(background());
  tbbx::error_group g(parent, {.arena = &other});
  std::latch running(1);
  std::atomic<bool> saw_cancel{false};
  g.go([&](const context& ctx) {
    running.count_down();
    while (!ctx.done()) std::this_thread::yield();
    saw_cancel = true;
  });
  running.wait();
  cancel();
  for (int i = 0; i < 10; ++i) g.go([] { FAIL() << "ran after cancel"; });
  EXPECT_THROW(g.wait(), tbbx::canceled_error);
  EXPECT_TRUE(saw_cancel.load());
  EXPECT_EQ(g.skipped(), 10u);

  // The same through an algorithm called inside the arena.
  auto ctx2_c = tbbx::with_cancel(background());
  auto& ctx2 = ctx2_c.ctx;
  auto& cancel2 = ctx2_c.cancel;
  cancel2();
  EXPECT_THROW(
      other.execute([&] { tbbx::parallel_for(ctx2, 0, 100, [](int) {}); }),
      tbbx::canceled_error);
}

TEST(ArenaPatterns, HedgeAttemptsRunInTheChosenArena) {
  arena three({.max_concurrency = 3});
  int concurrency = tbbx::hedge(
      background(), {.delay = 1s, .max_attempts = 2, .arena = &three},
      [](const context&) { return tbb::this_task_arena::max_concurrency(); });
  EXPECT_EQ(concurrency, 3);
  tbbx::hedger h({.arena = &three});
  EXPECT_EQ(
      h(background(),
        [](const context&) { return tbb::this_task_arena::max_concurrency(); }),
      3);
}

}  // namespace
