// SPDX-License-Identifier: Apache-2.0
// Contract tests of the std::stop_token interop (README "std::stop_token and
// std::jthread"): get_stop_token and with_stop_token, their lifetimes and their
// races.
#include "tbbx/context/stop_token.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <random>
#include <stop_token>
#include <thread>

#include "tbbx/context/errors.h"
#include "test_support.h"

namespace {

using namespace std::chrono_literals;
using tbbx::background;
using tbbx::cancelable_context;
using tbbx::context;
using tbbx::testing::run_together;

// wait_for_stop blocks until st's stop is requested, without polling.
void wait_for_stop(const std::stop_token& st) {
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock lock(mu);
  cv.wait(lock, st, [] { return false; });
}

TEST(GetStopToken, ContextsThatNeverEndGiveATokenThatCannotStop) {
  EXPECT_FALSE(tbbx::get_stop_token(background()).stop_possible());
  cancelable_context c = tbbx::with_cancel(background());
  EXPECT_FALSE(
      tbbx::get_stop_token(tbbx::without_cancel(c.ctx)).stop_possible());
}

TEST(GetStopToken, ADoneContextGivesAStoppedToken) {
  cancelable_context c = tbbx::with_cancel(background());
  c.cancel();
  const std::stop_token st = tbbx::get_stop_token(c.ctx);
  EXPECT_TRUE(st.stop_requested());
}

TEST(GetStopToken, CancelRequestsStopOnTheCancelingThread) {
  cancelable_context c = tbbx::with_cancel(background());
  const std::stop_token st = tbbx::get_stop_token(c.ctx);
  EXPECT_TRUE(st.stop_possible());
  EXPECT_FALSE(st.stop_requested());
  std::thread::id ran_on;
  std::stop_callback cb(st, [&] { ran_on = std::this_thread::get_id(); });
  std::thread canceler([&] { c.cancel(); });
  const std::thread::id canceler_id = canceler.get_id();
  canceler.join();
  EXPECT_TRUE(st.stop_requested());
  EXPECT_EQ(ran_on, canceler_id);
}

TEST(GetStopToken, ValueChildrenStopWithTheirParent) {
  static const tbbx::context_key<int> key("k");
  cancelable_context c = tbbx::with_cancel(background());
  const std::stop_token st =
      tbbx::get_stop_token(tbbx::with_value(c.ctx, key, 1));
  EXPECT_FALSE(st.stop_requested());
  c.cancel();
  EXPECT_TRUE(st.stop_requested());
}

TEST(GetStopToken, ADeadlineRequestsStop) {
  cancelable_context c = tbbx::with_timeout(background(), 1ms);
  const std::stop_token st = tbbx::get_stop_token(c.ctx);
  wait_for_stop(st);
  EXPECT_TRUE(c.ctx.done());
}

TEST(GetStopToken, TheTokenOutlivesTheContext) {
  std::stop_token st;
  {
    cancelable_context c = tbbx::with_cancel(background());
    st = tbbx::get_stop_token(c.ctx);
  }  // the cancel_func cancels as it goes
  EXPECT_TRUE(st.stop_requested());
  std::stop_token dropped_handles;
  {
    cancelable_context c = tbbx::with_timeout(background(), 1ms);
    dropped_handles = tbbx::get_stop_token(c.ctx);
    c.cancel.release();  // only the deadline can end it now
  }
  wait_for_stop(dropped_handles);
}

TEST(GetStopToken, TheContextOutlivesTheToken) {
  cancelable_context c = tbbx::with_cancel(background());
  for (int i = 0; i < 100; ++i) (void)tbbx::get_stop_token(c.ctx);
  c.cancel();  // frees the 100 registrations (checked under ASan)
}

TEST(GetStopToken, ContextDrivesAJthread) {
  cancelable_context c = tbbx::with_cancel(background());
  std::atomic<bool> stopped{false};
  std::jthread worker(
      [&](std::stop_token st) {
        wait_for_stop(st);
        stopped = true;
      },
      tbbx::get_stop_token(c.ctx));
  c.cancel();
  worker.join();
  EXPECT_TRUE(stopped);
}

TEST(WithStopToken, AJthreadDrivesAContext) {
  std::error_code err;
  std::exception_ptr cause;
  std::jthread job([&](std::stop_token st) {
    cancelable_context c = tbbx::with_stop_token(background(), st);
    c.ctx.wait();
    err = c.ctx.err();
    cause = c.ctx.cause();
  });
  job.request_stop();
  job.join();
  EXPECT_EQ(err, tbbx::errc::canceled);
  EXPECT_THROW(std::rethrow_exception(cause), tbbx::canceled_error);
}

TEST(WithStopToken, AStopRequestedAlreadyEndsTheChildAtOnce) {
  std::stop_source src;
  src.request_stop();
  cancelable_context c = tbbx::with_stop_token(background(), src.get_token());
  EXPECT_TRUE(c.ctx.done());
  EXPECT_EQ(c.ctx.err(), tbbx::errc::canceled);
}

TEST(WithStopToken, ATokenThatCannotStopGivesAPlainChild) {
  cancelable_context c = tbbx::with_stop_token(background(), {});
  EXPECT_FALSE(c.ctx.done());
  c.cancel();
  EXPECT_TRUE(c.ctx.done());
}

TEST(WithStopToken, TheParentStillEndsTheChild) {
  std::stop_source src;
  cancelable_context parent = tbbx::with_cancel(background());
  cancelable_context c = tbbx::with_stop_token(parent.ctx, src.get_token());
  auto cause = std::make_exception_ptr(std::runtime_error("parent"));
  parent.cancel(cause);
  EXPECT_EQ(c.ctx.cause(), cause);
  src.request_stop();  // the stop callback is gone: changes nothing
  EXPECT_EQ(c.ctx.cause(), cause);
}

TEST(WithStopToken, TheSourceDiesFirst) {
  cancelable_context c = [] {
    std::stop_source src;
    return tbbx::with_stop_token(background(), src.get_token());
  }();
  EXPECT_FALSE(c.ctx.done());
  c.cancel();
  EXPECT_TRUE(c.ctx.done());
}

TEST(WithStopToken, TheContextDiesFirst) {
  std::stop_source src;
  {
    cancelable_context c = tbbx::with_stop_token(background(), src.get_token());
  }
  {
    cancelable_context c = tbbx::with_stop_token(background(), src.get_token());
    c.cancel.release();
  }  // not canceled: the stop callback keeps it until stop is requested
  src.request_stop();
}

TEST(WithStopToken, BothWaysChain) {
  // A token drives a context that drives a token.
  std::stop_source src;
  cancelable_context c = tbbx::with_stop_token(background(), src.get_token());
  const std::stop_token out = tbbx::get_stop_token(c.ctx);
  src.request_stop();
  EXPECT_TRUE(c.ctx.done());
  EXPECT_TRUE(out.stop_requested());
}

// Stop requests, parent cancels, and the destruction of the source, the
// child and the tokens, all at once, in random orders. Checked for leaks
// and races under ASan and TSan.
TEST(StopTokenRace, StopWhileTheContextIsEndingOrDestroyed) {
  std::mt19937 rng(12345);
  for (int round = 0; round < 500; ++round) {
    auto src = std::make_unique<std::stop_source>();
    cancelable_context parent = tbbx::with_cancel(background());
    auto child = std::make_unique<cancelable_context>(
        tbbx::with_stop_token(parent.ctx, src->get_token()));
    std::stop_token out = tbbx::get_stop_token(child->ctx);
    const unsigned order = rng();
    std::atomic<bool> stop_seen{false};
    std::stop_callback watcher(out, [&] { stop_seen = true; });
    run_together(3, [&](int i) {
      switch ((i + order) % 3) {
        case 0:
          src->request_stop();
          if (order & 8) src.reset();
          break;
        case 1:
          if (order & 16) {
            parent.cancel();
          } else {
            child.reset();  // its cancel_func cancels it
          }
          break;
        case 2:
          (void)tbbx::get_stop_token(parent.ctx);
          break;
      }
    });
    // Whichever came first, the child ended and so did its token.
    EXPECT_TRUE(out.stop_requested());
    EXPECT_TRUE(stop_seen);
  }
}

TEST(StopTokenRace, GetStopTokenWhileTheContextEnds) {
  for (int round = 0; round < 500; ++round) {
    cancelable_context c = tbbx::with_cancel(background());
    std::stop_token st;
    run_together(2, [&](int i) {
      if (i == 0) {
        st = tbbx::get_stop_token(c.ctx);
      } else {
        c.cancel();
      }
    });
    EXPECT_TRUE(st.stop_requested());
  }
}

}  // namespace
