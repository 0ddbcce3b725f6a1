// SPDX-License-Identifier: Apache-2.0
// Contract tests of tbbx::error_group (README "Patterns"): Go's errgroup
// semantics plus every error kept, skipped accounting, limits, and the
// destructor that cancels and waits.
#include "tbbx/patterns/error_group.h"

#include <gtest/gtest.h>
#include <oneapi/tbb/task_arena.h>

#include <atomic>
#include <latch>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tbbx/context/callbacks.h"
#include "tbbx/context/multi_error.h"
#include "tbbx/context/tbb_context.h"
#include "test_support.h"

namespace {

using namespace std::chrono_literals;
using tbbx::background;
using tbbx::context;
using tbbx::error_group;
using tbbx::group_options;
using tbbx::testing::eventually;
using tbbx::testing::run_together;

struct task_failed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

TEST(ErrorGroup, RunsEveryTaskAndReturns) {
  error_group g;
  std::atomic<int> ran{0};
  for (int i = 0; i < 1000; ++i) g.go([&] { ran++; });
  g.wait();
  EXPECT_EQ(ran.load(), 1000);
  EXPECT_EQ(g.skipped(), 0u);
  EXPECT_TRUE(g.errors().empty());
}

TEST(ErrorGroup, TasksMayTakeTheGroupsContext) {
  auto [parent, cancel] = tbbx::with_cancel(background());
  error_group g(parent);
  std::atomic<int> same{0};
  for (int i = 0; i < 100; ++i) {
    g.go([&](const context& ctx) {
      if (ctx == g.get_context() &&
          tbbx::this_task::get_context() == g.get_context()) {
        same++;
      }
    });
  }
  g.wait();
  EXPECT_EQ(same.load(), 100);
}

TEST(ErrorGroup, ContextIsDoneAfterWait) {
  error_group g;
  g.go([] {});
  EXPECT_FALSE(g.get_context().done());
  g.wait();
  EXPECT_TRUE(g.get_context().done());
  EXPECT_THROW(g.get_context().throw_if_done(), tbbx::canceled_error);
}

// The poller and the failing task must run at once: this needs the two
// threads oneTBB has on a 2-core machine (the waiting caller and a worker).
TEST(ErrorGroup, FirstErrorCancelsTheRestAndIsRethrown) {
  error_group g;
  std::atomic<int> saw_cancel{0};
  std::latch poller_started(1);
  g.go([&](const context& ctx) {
    poller_started.count_down();
    while (!ctx.done()) std::this_thread::yield();
    saw_cancel++;
  });
  g.go([&] {
    poller_started.wait();
    throw task_failed("disk full");
  });
  try {
    g.wait();
    FAIL() << "wait() returned";
  } catch (const task_failed& e) {
    EXPECT_STREQ(e.what(), "disk full");
  }
  EXPECT_EQ(saw_cancel.load(), 1);
  EXPECT_THROW(g.get_context().throw_if_done(), task_failed);
  EXPECT_EQ(g.errors().size(), 1u);
}

TEST(ErrorGroup, EveryErrorIsKept) {
  error_group g(background(), {.cancel_on_error = false});
  for (int i = 0; i < 100; ++i) {
    g.go([i] { throw task_failed("task " + std::to_string(i)); });
  }
  g.go([] { throw 42; });      // not a std::exception: kept all the same
  EXPECT_ANY_THROW(g.wait());  // whichever failed first
  EXPECT_EQ(g.errors().size(), 101u);
  int ints = 0;
  for (const auto& e : g.errors()) {
    try {
      std::rethrow_exception(e);
    } catch (int) {
      ++ints;
    } catch (const task_failed&) {
    }
  }
  EXPECT_EQ(ints, 1);
  EXPECT_EQ(g.skipped(), 0u);
}

TEST(ErrorGroup, WaitAllThrowsAMultiErrorOfEveryError) {
  error_group g(background(), {.cancel_on_error = false});
  std::atomic<int> ran{0};
  for (int i = 0; i < 10; ++i) {
    g.go([&, i] {
      ran++;
      if (i % 2 == 0) throw task_failed("even " + std::to_string(i));
    });
  }
  try {
    g.wait_all();
    FAIL();
  } catch (const tbbx::multi_error& e) {
    EXPECT_EQ(e.size(), 5u);
    EXPECT_EQ(std::string(e.what()).rfind("5 errors: ", 0), 0u) << e.what();
  }
  EXPECT_EQ(ran.load(), 10);  // collect mode cancels nothing
}

TEST(ErrorGroup, WaitRepeatsItsOutcome) {
  error_group g;
  g.go([] { throw task_failed("once"); });
  EXPECT_THROW(g.wait(), task_failed);
  EXPECT_THROW(g.wait(), task_failed);
  error_group ok;
  ok.wait();
  ok.wait();
}

TEST(ErrorGroup, TasksOfADoneGroupAreSkippedAndCounted) {
  auto [parent, cancel] = tbbx::with_cancel(background());
  auto cause = std::make_exception_ptr(task_failed("shutting down"));
  error_group g(parent);
  cancel(cause);
  auto alive = std::make_shared<int>(0);
  for (int i = 0; i < 10; ++i) g.go([alive] { FAIL() << "ran"; });
  EXPECT_EQ(alive.use_count(), 1);  // the skipped callables are destroyed
  EXPECT_EQ(g.skipped(), 10u);
  EXPECT_THROW(g.wait(), task_failed);  // a partial run never looks complete
  EXPECT_EQ(g.get_context().cause(), cause);
}

TEST(ErrorGroup, QueuedTasksAreSkippedWhenTheParentEnds) {
  auto parent_c = tbbx::with_cancel(background());
  auto& parent = parent_c.ctx;
  auto& cancel = parent_c.cancel;
  error_group g(parent);
  constexpr int kTasks = 20'000;
  std::atomic<int> ran{0};
  g.go([&] {
    // These land on this worker's deque; the other thread may steal some.
    for (int i = 0; i < kTasks; ++i) {
      g.go([&] {
        ran++;
        std::this_thread::sleep_for(1us);
      });
    }
    cancel();
  });
  EXPECT_THROW(g.wait(), tbbx::canceled_error);
  EXPECT_GT(g.skipped(), 0u);
  EXPECT_EQ(static_cast<std::size_t>(ran.load()) + g.skipped(),
            static_cast<std::size_t>(kTasks));
}

TEST(ErrorGroup, DeadlineOfTheParentReachesTasks) {
  auto [parent, cancel] = tbbx::with_timeout(background(), 20ms);
  error_group g(parent);
  for (int i = 0; i < 2; ++i) {
    g.go([](const context& ctx) {
      while (true) {
        ctx.throw_if_done();
        std::this_thread::yield();
      }
    });
  }
  EXPECT_THROW(g.wait(), tbbx::deadline_exceeded_error);
}

TEST(ErrorGroup, DestructorCancelsAndWaits) {
  std::atomic<int> started{0};
  std::atomic<int> finished{0};
  std::latch one_started(1);
  {
    error_group g;
    for (int i = 0; i < 4; ++i) {
      g.go([&](const context& ctx) {
        if (started++ == 0) one_started.count_down();
        while (!ctx.done()) std::this_thread::yield();
        finished++;
      });
    }
    one_started.wait();
  }  // no wait(): the destructor cancels, then waits for the pollers
  EXPECT_GE(started.load(), 1);
  EXPECT_EQ(finished.load(), started.load());  // none still running
}

TEST(ErrorGroup, MisuseIsLoud) {
  error_group g;
  g.wait();
  EXPECT_THROW(g.go([] {}), std::logic_error);
  EXPECT_THROW(g.try_go([] {}), std::logic_error);
}

// Go's SetLimit(0) is valid: TryGo always fails. go() could never proceed,
// so it throws rather than block forever.
TEST(ErrorGroup, LimitZeroAdmitsNothingAsInGo) {
  error_group g(background(), {.limit = 0});
  bool ran = false;
  EXPECT_FALSE(g.try_go([&] { ran = true; }));
  try {
    g.go([&] { ran = true; });
    ADD_FAILURE() << "go() at a limit of 0 returned";
  } catch (const std::logic_error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("tbbx::error_group::go", 0), 0u);
  }
  EXPECT_FALSE(ran);
  g.set_limit(1);  // nothing ran, so the limit may change
  g.go([&] { ran = true; });
  g.wait();
  EXPECT_TRUE(ran);
  error_group h;
  h.set_limit(0);
  EXPECT_FALSE(h.try_go([] {}));
}

// The pending count may fall to zero and rise again before wait(): wait()
// still covers every task admitted before it.
TEST(ErrorGroup, WaitCoversATaskAdmittedAfterTheCountWasZero) {
  error_group g;
  std::latch first_ran(1);
  g.go([&] { first_ran.count_down(); });
  first_ran.wait();
  std::latch release(1);
  std::atomic<bool> second_finished{false};
  g.go([&] {
    release.wait();
    second_finished = true;
  });
  // The delay only widens the window in which an early return would show.
  std::thread releaser([&] {
    std::this_thread::sleep_for(20ms);
    release.count_down();
  });
  g.wait();
  EXPECT_TRUE(second_finished.load());
  releaser.join();
}

TEST(ErrorGroup, WaitFromItsOwnTaskIsAnError) {
  error_group g;
  g.go([&] { g.wait(); });
  EXPECT_THROW(g.wait(), std::logic_error);
}

TEST(ErrorGroupLimit, ChangingTheLimitWhileTasksRunThrows) {
  error_group g;
  std::latch release(1);
  g.go([&] { release.wait(); });
  EXPECT_THROW(g.set_limit(4), std::logic_error);
  release.count_down();
  g.wait();
}

TEST(ErrorGroupLimit, AtMostLimitTasksRunAtOnce) {
  error_group g;
  g.set_limit(2);
  std::atomic<int> running{0};
  std::atomic<int> peak{0};
  for (int i = 0; i < 200; ++i) {
    g.go([&] {
      int now = ++running;
      int seen = peak.load();
      while (now > seen && !peak.compare_exchange_weak(seen, now)) {
      }
      std::this_thread::sleep_for(20us);
      --running;
    });
  }
  g.wait();
  EXPECT_LE(peak.load(), 2);
  EXPECT_GE(peak.load(), 1);
}

TEST(ErrorGroupLimit, TryGoRefusesAtTheLimitWithoutRunning) {
  error_group g;
  g.set_limit(1);
  std::latch release(1);
  ASSERT_TRUE(g.try_go([&] { release.wait(); }));
  bool ran = false;
  EXPECT_FALSE(g.try_go([&] { ran = true; }));
  release.count_down();
  g.wait();
  EXPECT_FALSE(ran);
}

TEST(ErrorGroupLimit, GoAtTheLimitInsideATaskRunsInline) {
  error_group g;
  g.set_limit(1);
  std::atomic<int> depth_reached{0};
  std::function<void(int)> spawn = [&](int depth) {
    depth_reached = std::max(depth_reached.load(), depth);
    if (depth < 50) g.go([&, depth] { spawn(depth + 1); });
  };
  g.go([&] { spawn(1); });
  g.wait();  // a waiting go() here would deadlock
  EXPECT_EQ(depth_reached.load(), 50);
}

// With no worker thread at all, a go() blocked at the limit must run the
// group's tasks itself.
TEST(ErrorGroupLimit, BlockedGoMakesProgressWithoutWorkers) {
  tbb::task_arena single(1, 1);
  std::atomic<int> ran{0};
  single.execute([&] {
    error_group g;
    g.set_limit(1);
    for (int i = 0; i < 100; ++i) g.go([&] { ran++; });
    g.wait();
  });
  EXPECT_EQ(ran.load(), 100);
}

TEST(ErrorGroupLimit, BlockedGoersFromManyThreadsAllGetIn) {
  error_group g;
  g.set_limit(2);
  std::atomic<int> ran{0};
  run_together(4, [&](int) {
    for (int i = 0; i < 200; ++i) g.go([&] { ran++; });
  });
  g.wait();
  EXPECT_EQ(ran.load(), 800);
}

// A go() blocked at the limit and a finishing task racing: the slot must
// reach the blocked caller (found by review: a wake-up could be lost).
TEST(ErrorGroupLimit, ManySmallLimitedGroupsNeverLoseAWakeUp) {
  const int rounds = tbbx::testing::under_sanitizer ? 2'000 : 20'000;
  std::atomic<int> ran{0};
  for (int round = 0; round < rounds; ++round) {
    error_group g;
    g.set_limit(1);
    for (int i = 0; i < 4; ++i) g.go([&] { ran++; });
    g.wait();
  }
  EXPECT_EQ(ran.load(), 4 * rounds);
}

TEST(ErrorGroupRace, ConcurrentGoFromManyThreads) {
  error_group g(background(), {.cancel_on_error = false});
  std::atomic<int> ran{0};
  run_together(8, [&](int t) {
    for (int i = 0; i < 2000; ++i) {
      g.go([&, t, i] {
        ran++;
        if (i == 1000) throw task_failed("thread " + std::to_string(t));
      });
    }
  });
  EXPECT_THROW(g.wait(), task_failed);
  EXPECT_EQ(ran.load(), 16'000);
  EXPECT_EQ(g.errors().size(), 8u);
}

TEST(ErrorGroupContext, TheContextIsARealContext) {
  static const tbbx::context_key<std::string> user("user");
  auto [parent, cancel] = tbbx::with_timeout(
      tbbx::with_value(background(), user, "ada"), std::chrono::hours(1));
  error_group g(parent);
  EXPECT_EQ(*g.get_context().value(user), "ada");
  EXPECT_EQ(g.get_context().deadline(), parent.deadline());
  std::atomic<bool> callback_ran{false};
  context copy;
  tbbx::callback_registration reg;
  g.go([&](const context& ctx) {
    copy = ctx;  // a handle that outlives the task
    reg = tbbx::on_done(ctx, [&] { callback_ran = true; });
    throw task_failed("boom");
  });
  EXPECT_THROW(g.wait(), task_failed);
  EXPECT_TRUE(copy.done());
  EXPECT_THROW(copy.throw_if_done(), task_failed);
  EXPECT_EQ(copy, g.get_context());
  EXPECT_TRUE(callback_ran.load());
}

}  // namespace

namespace {

// cancel(), the task_group habit: the group's context ends with the cause,
// tasks not started are skipped, wait() throws the cause, and the parent
// is untouched.
TEST(ErrorGroupCancel, CancelsWithTheCauseAndSkipsTasksNotStarted) {
  tbbx::cancelable_context parent = tbbx::with_cancel(background());
  error_group g(parent.ctx, {.limit = 1});
  std::latch started(1);
  std::atomic<bool> release{false};
  g.go([&] {
    started.count_down();
    while (!release.load()) std::this_thread::yield();
  });
  started.wait();
  std::atomic<int> ran{0};
  const auto cause = std::make_exception_ptr(task_failed("stop"));
  std::thread canceler([&] {
    g.cancel(cause);
    release = true;
  });
  for (int i = 0; i < 10; ++i) g.go([&] { ran++; });  // blocks at the limit
  canceler.join();
  try {
    g.wait();
    FAIL() << "wait() returned normally after cancel()";
  } catch (const task_failed& e) {
    EXPECT_STREQ(e.what(), "stop");
  }
  EXPECT_EQ(g.get_context().cause(), cause);
  EXPECT_EQ(g.get_context().err(), tbbx::errc::canceled);
  EXPECT_EQ(ran.load() + static_cast<int>(g.skipped()), 10);
  EXPECT_GT(g.skipped(), 0u);
  EXPECT_FALSE(parent.ctx.done());
}

TEST(ErrorGroupCancel, ANullCauseIsACanceledError) {
  error_group g;
  g.cancel();
  g.go([] {});
  EXPECT_THROW(g.wait(), tbbx::canceled_error);
  EXPECT_EQ(g.skipped(), 1u);
}

TEST(ErrorGroupCancel, OnlyTheFirstCancelCounts) {
  error_group g;
  const auto first = std::make_exception_ptr(task_failed("first"));
  g.cancel(first);
  g.cancel(std::make_exception_ptr(task_failed("second")));
  EXPECT_EQ(g.get_context().cause(), first);
  g.wait();  // nothing was skipped and nothing failed: wait() returns
}

}  // namespace
