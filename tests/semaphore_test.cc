// SPDX-License-Identifier: Apache-2.0
// Contract tests of tbbx::semaphore: weights, FIFO fairness, cancellation.
#include "tbbx/patterns/semaphore.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <latch>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tbbx/patterns/error_group.h"
#include "tbbx/scheduler/arena.h"
#include "test_support.h"

namespace {

using namespace std::chrono_literals;
using tbbx::background;
using tbbx::semaphore;
using tbbx::testing::eventually;

TEST(Semaphore, WeightedAcquireAndRelease) {
  semaphore s(10);
  s.acquire(background(), 7);
  EXPECT_EQ(s.available(), 3);
  EXPECT_FALSE(s.try_acquire(4));
  EXPECT_TRUE(s.try_acquire(3));
  EXPECT_EQ(s.available(), 0);
  s.release(10);
  EXPECT_EQ(s.available(), 10);
}

TEST(Semaphore, BadArgumentsAreRejected) {
  EXPECT_THROW(semaphore(0), std::invalid_argument);
  semaphore s(4);
  EXPECT_THROW(s.acquire(background(), 5), std::invalid_argument);
  EXPECT_THROW(s.acquire(background(), 0), std::invalid_argument);
  EXPECT_THROW(s.try_acquire(-1), std::invalid_argument);
  EXPECT_THROW(s.release(1), std::logic_error);  // nothing held
  s.acquire(background(), 2);
  EXPECT_THROW(s.release(3), std::logic_error);
}

TEST(Semaphore, UnitsAre64Bit) {
  // A semaphore over bytes: 8 GiB, and weights past 2^32.
  semaphore memory(std::int64_t{8} << 30);
  EXPECT_EQ(memory.capacity(), std::int64_t{8} << 30);
  memory.acquire(background(), std::int64_t{5} << 30);
  EXPECT_EQ(memory.available(), std::int64_t{3} << 30);
  EXPECT_FALSE(memory.try_acquire(std::int64_t{4} << 30));
  EXPECT_TRUE(memory.try_acquire(std::int64_t{3} << 30));
  memory.release(std::int64_t{8} << 30);
  EXPECT_EQ(memory.available(), std::int64_t{8} << 30);

  constexpr std::int64_t max = std::numeric_limits<std::int64_t>::max();
  semaphore huge(max);
  EXPECT_TRUE(huge.try_acquire(max));
  EXPECT_EQ(huge.available(), 0);
  huge.release(max);
  EXPECT_EQ(huge.available(), max);
}

TEST(Semaphore, Bad64BitArgumentsSayWhatIsWrong) {
  semaphore s(std::int64_t{1} << 40);
  try {
    s.acquire(background(), (std::int64_t{1} << 40) + 1);
    FAIL() << "an acquire that can never be satisfied was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("tbbx::semaphore::acquire"),
              std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("1099511627776"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(semaphore bad(std::numeric_limits<std::int64_t>::min()),
               std::invalid_argument);
  EXPECT_THROW(s.release(std::int64_t{1} << 41), std::logic_error);
}

TEST(Semaphore, AcquireWaitsForARelease) {
  semaphore s(1);
  s.acquire(background());
  std::atomic<bool> got{false};
  std::thread waiter([&] {
    s.acquire(background());
    got = true;
  });
  EXPECT_FALSE(eventually([&] { return got.load(); }, 20ms));
  s.release();
  waiter.join();
  EXPECT_TRUE(got.load());
}

// A large request at the head of the queue is not overtaken by small ones
// that arrive after it (x/sync/semaphore's fairness).
TEST(Semaphore, LargeRequestsAreNotStarved) {
  semaphore s(4);
  s.acquire(background(), 3);  // 1 free
  std::atomic<int> order{0};
  std::atomic<int> large_at{-1}, small_at{-1};
  std::thread large([&] {
    s.acquire(background(), 4);
    large_at = order++;
    s.release(4);
  });
  ASSERT_TRUE(
      eventually([&] { return !s.try_acquire(1) || (s.release(1), false); }));
  std::thread small([&] {
    s.acquire(background(), 1);  // would fit now, but the large one is first
    small_at = order++;
    s.release(1);
  });
  ASSERT_TRUE(eventually([&] { return s.waiting() == 2; }));
  EXPECT_EQ(small_at.load(), -1);
  s.release(3);
  large.join();
  small.join();
  EXPECT_EQ(large_at.load(), 0);
  EXPECT_EQ(small_at.load(), 1);
}

TEST(Semaphore, AcquireGivesUpWhenTheContextEnds) {
  semaphore s(2);
  s.acquire(background(), 2);
  auto ctx_c = tbbx::with_cancel(background());
  auto& ctx = ctx_c.ctx;
  auto& cancel = ctx_c.cancel;
  auto cause = std::make_exception_ptr(std::runtime_error("no longer needed"));
  std::exception_ptr thrown;
  std::thread waiter([&] {
    try {
      s.acquire(ctx, 1);
    } catch (...) {
      thrown = std::current_exception();
    }
  });
  ASSERT_TRUE(eventually([&] { return s.waiting() == 1; }));
  cancel(cause);
  waiter.join();
  EXPECT_EQ(thrown, cause);
  s.release(2);
  EXPECT_EQ(s.available(), 2);  // the canceled waiter took nothing
  EXPECT_THROW(s.acquire(ctx, 3), std::invalid_argument);
}

TEST(Semaphore, AGivenUpHeadLetsTheNextWaiterIn) {
  semaphore s(3);
  s.acquire(background(), 2);  // 1 free
  auto ctx_c = tbbx::with_timeout(background(), 20ms);
  auto& ctx = ctx_c.ctx;
  std::thread big([&] { EXPECT_ANY_THROW(s.acquire(ctx, 3)); });
  ASSERT_TRUE(eventually([&] { return s.waiting() == 1 || ctx.done(); }));
  std::atomic<bool> small_got{false};
  std::thread small([&] {
    s.acquire(background(), 1);  // behind the big one until it gives up
    small_got = true;
  });
  big.join();
  small.join();
  EXPECT_TRUE(small_got.load());
}

TEST(Semaphore, ManyThreadsNeverExceedTheCapacity) {
  semaphore s(3);
  std::atomic<int> inside{0}, peak{0};
  tbbx::testing::run_together(8, [&](int t) {
    for (int i = 0; i < 300; ++i) {
      const int n = 1 + (t + i) % 3;
      s.acquire(background(), n);
      const int now = inside += n;
      int seen = peak.load();
      while (now > seen && !peak.compare_exchange_weak(seen, now)) {
      }
      inside -= n;
      s.release(n);
    }
  });
  EXPECT_LE(peak.load(), 3);
  EXPECT_EQ(s.available(), 3);
}

// A done context wins over free units (Go issue 63615).
TEST(Semaphore, ADoneContextNeverAcquires) {
  semaphore s(4);
  auto [ctx, cancel] = tbbx::with_cancel(background());
  cancel();
  EXPECT_THROW(s.acquire(ctx, 1), tbbx::canceled_error);
  EXPECT_EQ(s.available(), 4);
}

// A waiter whose context ends as a release hands it the units gives them
// back: it either returns with the units or throws having taken nothing.
TEST(Semaphore, CancelRacingWithReleaseNeverLeaksUnits) {
  semaphore s(1);
  for (int i = 0; i < 2000; ++i) {
    s.acquire(background(), 1);
    auto ctx_c = tbbx::with_cancel(background());
    auto& ctx = ctx_c.ctx;
    auto& cancel = ctx_c.cancel;
    bool got = false;
    std::thread w([&] {
      try {
        s.acquire(ctx, 1);
        got = true;
      } catch (const tbbx::canceled_error&) {
      }
    });
    ASSERT_TRUE(eventually([&] { return s.waiting() == 1; }));
    tbbx::testing::run_together(2, [&](int t) {
      if (t == 0)
        cancel();
      else
        s.release(1);
    });
    w.join();
    if (got) s.release(1);
    ASSERT_EQ(s.available(), 1) << "iteration " << i;
  }
}

// Defect: a waiter granted just as its context hit its deadline destroyed
// its registration under the lock its callback took; the stuck thread was
// the timer thread, and no deadline fired again.
TEST(Semaphore, GrantRacingWithADeadlineNeitherHangsNorStopsTheTimer) {
  semaphore s(1);
  tbbx::testing::watchdog dog(120s, "semaphore grant vs deadline");
  for (int i = 0; i < 3000; ++i) {
    s.acquire(background(), 1);
    std::thread holder([&, i] {
      tbbx::testing::spin_for(std::chrono::microseconds(i % 100));
      s.release(1);
    });
    auto [ctx, cancel] = tbbx::with_timeout(background(), 50us);
    try {
      s.acquire(ctx, 1);
      s.release(1);
    } catch (const tbbx::deadline_exceeded_error&) {
    }
    holder.join();
  }
  EXPECT_EQ(s.available(), 1);
  auto [late, cancel_late] = tbbx::with_timeout(background(), 1ms);
  EXPECT_TRUE(late.wait_for(10s)) << "the timer thread no longer fires";
}

// Inside tbbx tasks a waiting acquire suspends instead of holding its
// worker: releasers queued behind the waiters still run, even on an arena
// with a single thread.
TEST(Semaphore, WaitersInsideTasksDoNotStarveTheirReleasers) {
  tbbx::arena one({.name = "one", .max_concurrency = 1});
  semaphore s(1);
  s.acquire(background(), 1);
  tbbx::error_group g(background(), {.arena = &one});
  std::atomic<int> got{0};
  for (int i = 0; i < 4; ++i) {
    g.go([&] {
      s.acquire(background(), 1);
      got++;
      s.release(1);
    });
  }
  g.go([&] { s.release(1); });  // queued behind four waiters
  g.wait();
  EXPECT_EQ(got.load(), 4);
  EXPECT_EQ(s.available(), 1);
}

}  // namespace
