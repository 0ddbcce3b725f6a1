// Contract tests of tbbx::semaphore: weights, FIFO fairness, cancellation.
#include "tbbx/patterns/semaphore.h"

#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <stdexcept>
#include <thread>
#include <vector>

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
  std::this_thread::sleep_for(10ms);
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
  auto [ctx, cancel] = tbbx::with_cancel(background());
  auto cause = std::make_exception_ptr(std::runtime_error("no longer needed"));
  std::exception_ptr thrown;
  std::thread waiter([&] {
    try {
      s.acquire(ctx, 1);
    } catch (...) {
      thrown = std::current_exception();
    }
  });
  std::this_thread::sleep_for(5ms);
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
  auto [ctx, cancel] = tbbx::with_timeout(background(), 20ms);
  std::thread big([&] { EXPECT_ANY_THROW(s.acquire(ctx, 3)); });
  std::this_thread::sleep_for(5ms);
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

}  // namespace
