// SPDX-License-Identifier: Apache-2.0
// Contract tests of on_done and after_func (README "Contexts", callbacks).
#include "tbbx/context/callbacks.h"

#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <thread>
#include <vector>

#include "test_support.h"

namespace {

using namespace std::chrono_literals;
using tbbx::background;
using tbbx::context;
using tbbx::testing::eventually;
using tbbx::testing::run_together;

TEST(OnDone, RunsOnceOnTheCancelingThread) {
  auto ctx_c = tbbx::with_cancel(background());
  auto& ctx = ctx_c.ctx;
  auto& cancel = ctx_c.cancel;
  int runs = 0;
  std::thread::id ran_on;
  auto reg = tbbx::on_done(ctx, [&] {
    ++runs;
    ran_on = std::this_thread::get_id();
  });
  EXPECT_EQ(runs, 0);
  std::thread canceler([&] { cancel(); });
  const auto canceler_id = canceler.get_id();
  canceler.join();
  cancel();
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(ran_on, canceler_id);
}

TEST(OnDone, RunsAtOnceWhenAlreadyDone) {
  auto [ctx, cancel] = tbbx::with_cancel(background());
  cancel();
  bool ran = false;
  auto reg = tbbx::on_done(ctx, [&] { ran = true; });
  EXPECT_TRUE(ran);
}

TEST(OnDone, CallbacksRunInRegistrationOrderAndOnChildren) {
  auto [parent, cancel] = tbbx::with_cancel(background());
  auto [child, cancel_child] = tbbx::with_cancel(parent);
  std::vector<int> order;
  auto r1 = tbbx::on_done(parent, [&] { order.push_back(1); });
  auto r2 = tbbx::on_done(parent, [&] { order.push_back(2); });
  auto r3 = tbbx::on_done(child, [&] { order.push_back(3); });
  cancel();
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

TEST(OnDone, DeregisteredCallbackNeverRuns) {
  auto [ctx, cancel] = tbbx::with_cancel(background());
  bool ran = false;
  {
    auto reg = tbbx::on_done(ctx, [&] { ran = true; });
  }
  auto reg2 = tbbx::on_done(ctx, [&] { ran = true; });
  reg2.reset();
  cancel();
  EXPECT_FALSE(ran);
}

TEST(OnDone, NeverRunsOnAContextThatCannotEnd) {
  bool ran = false;
  auto reg = tbbx::on_done(background(), [&] { ran = true; });
  auto reg2 =
      tbbx::on_done(tbbx::without_cancel(background()), [&] { ran = true; });
  EXPECT_FALSE(ran);
}

// They run on the deferred runner (the timer thread runs no user code).
TEST(OnDone, DeadlineCallbacksRunOffTheCallersThread) {
  // Long enough that the registration comes first even under TSan.
  auto [ctx, cancel] = tbbx::with_timeout(background(), 300ms);
  std::atomic<std::thread::id> ran_on{};
  auto reg = tbbx::on_done(ctx, [&] { ran_on = std::this_thread::get_id(); });
  ASSERT_EQ(ran_on.load(), std::thread::id()) << "registered too late";
  ctx.wait();
  ASSERT_TRUE(eventually([&] { return ran_on.load() != std::thread::id(); }));
  EXPECT_NE(ran_on.load(), std::this_thread::get_id());
}

TEST(OnDone, DestructorWaitsForACallbackRunningOnAnotherThread) {
  auto ctx_c = tbbx::with_cancel(background());
  auto& ctx = ctx_c.ctx;
  auto& cancel = ctx_c.cancel;
  std::latch entered(1);
  std::latch release(1);
  std::atomic<bool> finished{false};
  auto reg =
      std::make_unique<tbbx::callback_registration>(tbbx::on_done(ctx, [&] {
        entered.count_down();
        release.wait();
        finished = true;
      }));
  std::thread canceler([&] { cancel(); });
  entered.wait();  // the callback is running on `canceler`
  std::atomic<bool> destroyed{false};
  std::thread destroyer([&] {
    reg.reset();  // must block until the callback returns
    destroyed = true;
    EXPECT_TRUE(finished.load());
  });
  // The destroyer cannot finish while the callback is held.
  EXPECT_FALSE(eventually([&] { return destroyed.load(); }, 20ms));
  release.count_down();
  destroyer.join();
  canceler.join();
  EXPECT_TRUE(destroyed.load());
}

TEST(OnDone, DeregisteringFromInsideTheCallbackDoesNotDeadlock) {
  auto [ctx, cancel] = tbbx::with_cancel(background());
  tbbx::callback_registration reg;
  bool ran = false;
  reg = tbbx::on_done(ctx, [&] {
    ran = true;
    reg.reset();
  });
  cancel();
  EXPECT_TRUE(ran);
}

TEST(OnDone, CallbacksMayCancelOtherContextsAndRegisterCallbacks) {
  auto parent_c = tbbx::with_cancel(background());
  auto& parent = parent_c.ctx;
  auto& cancel_parent = parent_c.cancel;
  auto [child, cancel_child] = tbbx::with_cancel(parent);
  auto other_c = tbbx::with_cancel(background());
  auto& other = other_c.ctx;
  auto& cancel_other = other_c.cancel;
  auto third_c = tbbx::with_cancel(background());
  auto& third = third_c.ctx;
  auto& cancel_third = third_c.cancel;
  std::vector<tbbx::callback_registration> regs;
  int nested_runs = 0;
  // Canceling the child cancels its parent, which cancels an unrelated
  // context, whose callback registers more callbacks.
  regs.push_back(tbbx::on_done(child, [&] { cancel_parent(); }));
  regs.push_back(tbbx::on_done(parent, [&] { cancel_other(); }));
  tbbx::callback_registration late_on_other;
  tbbx::callback_registration late_on_third;
  regs.push_back(tbbx::on_done(other, [&] {
    late_on_other = tbbx::on_done(other, [&] { ++nested_runs; });  // inline
    late_on_third = tbbx::on_done(third, [&] { ++nested_runs; });
  }));
  cancel_child();
  EXPECT_TRUE(parent.done());
  EXPECT_TRUE(other.done());
  EXPECT_EQ(nested_runs, 1);
  cancel_third();
  EXPECT_EQ(nested_runs, 2);
}

TEST(OnDone, ConcurrentRegistrationAndCancelRunEachCallbackOnce) {
  for (int round = 0; round < 50; ++round) {
    auto ctx_c = tbbx::with_cancel(background());
    auto& ctx = ctx_c.ctx;
    auto& cancel = ctx_c.cancel;
    std::atomic<int> runs{0};
    std::atomic<int> kept{0};
    std::vector<std::vector<tbbx::callback_registration>> regs(4);
    run_together(5, [&](int t) {
      if (t == 4) {
        cancel();
        return;
      }
      for (int i = 0; i < 100; ++i) {
        regs[t].push_back(tbbx::on_done(ctx, [&] { runs.fetch_add(1); }));
        if (i % 3 == 0) {
          regs[t].back().reset();  // may or may not have run yet
        } else {
          kept.fetch_add(1);
        }
      }
    });
    // Every kept registration ran exactly once (cancel has returned, and a
    // registration after it runs inline); a reset one ran at most once.
    EXPECT_GE(runs.load(), kept.load());
    EXPECT_LE(runs.load(), 400);
  }
}

TEST(AfterFunc, RunsAsATaskAfterTheContextEnds) {
  auto [ctx, cancel] = tbbx::with_cancel(background());
  std::atomic<bool> ran{false};
  std::atomic<std::thread::id> ran_on{};
  auto handle = tbbx::after_func(ctx, [&] {
    ran_on = std::this_thread::get_id();
    ran = true;
  });
  EXPECT_FALSE(ran.load());
  cancel();
  ASSERT_TRUE(eventually([&] { return ran.load(); }));
  EXPECT_NE(ran_on.load(), std::this_thread::get_id());
  EXPECT_FALSE(handle.stop());
}

TEST(AfterFunc, StopBeforeTheEndKeepsItFromRunning) {
  auto [ctx, cancel] = tbbx::with_cancel(background());
  std::atomic<bool> ran{false};
  auto handle = tbbx::after_func(ctx, [&] { ran = true; });
  auto copy = handle;
  EXPECT_TRUE(copy.stop());
  EXPECT_FALSE(handle.stop());  // stopped already
  cancel();
  // Give a wrongly launched task every chance to run, then check.
  std::atomic<bool> probe{false};
  auto probe_handle = tbbx::after_func(ctx, [&] { probe = true; });
  ASSERT_TRUE(eventually([&] { return probe.load(); }));
  EXPECT_FALSE(ran.load());
}

TEST(AfterFunc, RunsAtOnceOnADoneContextAndOnDeadlines) {
  auto [done_ctx, cancel] = tbbx::with_cancel(background());
  cancel();
  std::atomic<int> runs{0};
  auto h1 = tbbx::after_func(done_ctx, [&] { runs.fetch_add(1); });
  {
    auto [timed, cancel_timed] = tbbx::with_timeout(background(), 5ms);
    cancel_timed.release();  // only the deadline can end it now
    tbbx::after_func(timed, [&] { runs.fetch_add(1); });  // handle dropped
  }
  ASSERT_TRUE(eventually([&] { return runs.load() == 2; }));
  EXPECT_FALSE(h1.stop());
}

// Go retains nothing for an AfterFunc on a context that can never end.
TEST(AfterFunc, OnAContextThatCannotEndNothingIsKept) {
  auto token = std::make_shared<int>(0);
  for (int i = 0; i < 100; ++i) {
    tbbx::after_func(background(), [token] {});
    tbbx::after_func(tbbx::without_cancel(background()), [token] {});
  }
  EXPECT_EQ(token.use_count(), 1);
  auto h = tbbx::after_func(background(), [] {});
  EXPECT_TRUE(h.stop());
  EXPECT_FALSE(h.stop());
}

TEST(AfterFunc, ConcurrentStopAndCancelDecideExactlyOnce) {
  for (int round = 0; round < 200; ++round) {
    auto ctx_c = tbbx::with_cancel(background());
    auto& ctx = ctx_c.ctx;
    auto& cancel = ctx_c.cancel;
    std::atomic<int> ran{0};
    auto handle = tbbx::after_func(ctx, [&] { ran.fetch_add(1); });
    std::atomic<bool> stopped{false};
    run_together(2, [&](int t) {
      if (t == 0) {
        cancel();
      } else {
        stopped = handle.stop();
      }
    });
    if (stopped) {
      EXPECT_EQ(ran.load(), 0);
    } else {
      ASSERT_TRUE(eventually([&] { return ran.load() == 1; }));
    }
  }
}

}  // namespace
