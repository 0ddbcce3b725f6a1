// SPDX-License-Identifier: Apache-2.0
// Contract tests of tbbx::single_flight.
#include "tbbx/patterns/single_flight.h"

#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tbbx/context/context.h"
#include "test_support.h"

namespace {

using namespace std::chrono_literals;
using tbbx::background;

TEST(SingleFlight, EightConcurrentCallersShareOneExecution) {
  tbbx::single_flight<std::string, int> flights;
  std::atomic<int> executions{0};
  std::vector<int> results(8);
  tbbx::testing::run_together(8, [&](int t) {
    results[t] = flights.run("answer", [&] {
      executions++;
      // Hold the flight until every caller has joined it.
      EXPECT_TRUE(tbbx::testing::eventually(
          [&] { return flights.callers("answer") == 8; }));
      return 42;
    });
  });
  EXPECT_EQ(executions.load(), 1);
  for (int r : results) EXPECT_EQ(r, 42);
  EXPECT_EQ(flights.in_flight(), 0u);
}

TEST(SingleFlight, ErrorsAreSharedToo) {
  tbbx::single_flight<int, int> flights;
  std::latch leader_started(1);
  std::latch follower_waiting(1);
  std::atomic<int> failures{0};
  std::thread leader([&] {
    try {
      flights.run(1, [&]() -> int {
        leader_started.count_down();
        follower_waiting.wait();
        // The follower has joined once the flight counts two callers.
        EXPECT_TRUE(
            tbbx::testing::eventually([&] { return flights.callers(1) == 2; }));
        throw std::runtime_error("backend down");
      });
    } catch (const std::runtime_error&) {
      failures++;
    }
  });
  leader_started.wait();
  std::thread follower([&] {
    follower_waiting.count_down();
    try {
      flights.run(1, []() -> int { return 0; });  // joins the failing flight
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "backend down");
      failures++;
    }
  });
  leader.join();
  follower.join();
  EXPECT_EQ(failures.load(), 2);
}

TEST(SingleFlight, DifferentKeysRunSeparatelyAndKeysAreFreedAfter) {
  tbbx::single_flight<int, int> flights;
  std::atomic<int> executions{0};
  EXPECT_EQ(flights.run(1, [&] { return ++executions; }), 1);
  EXPECT_EQ(flights.run(1, [&] { return ++executions; }), 2);  // not a cache
  EXPECT_EQ(flights.run(2, [&] { return ++executions; }), 3);
}

TEST(SingleFlight, ForgetStartsANewExecution) {
  tbbx::single_flight<int, int> flights;
  std::latch first_started(1), release_first(1);
  std::atomic<int> executions{0};
  std::thread first([&] {
    EXPECT_EQ(flights.run(7,
                          [&] {
                            executions++;
                            first_started.count_down();
                            release_first.wait();
                            return 1;
                          }),
              1);
  });
  first_started.wait();
  flights.forget(7);
  EXPECT_EQ(flights.run(7,
                        [&] {
                          executions++;
                          return 2;
                        }),
            2);  // did not join the first flight
  release_first.count_down();
  first.join();
  EXPECT_EQ(executions.load(), 2);
}

TEST(SingleFlight, AWaitingCallerGivesUpWithItsContext) {
  tbbx::single_flight<int, int> flights;
  std::latch leader_started(1), release_leader(1);
  std::thread leader([&] {
    flights.run(3, [&] {
      leader_started.count_down();
      release_leader.wait();
      return 5;
    });
  });
  leader_started.wait();
  auto [ctx, cancel] = tbbx::with_timeout(background(), 10ms);
  EXPECT_THROW(flights.run(ctx, 3, [] { return 0; }),
               tbbx::deadline_exceeded_error);
  release_leader.count_down();
  leader.join();
}

// Defect: a waiter canceled as the flight finished destroyed its
// registration under the lock its callback took, and hung.
TEST(SingleFlight, FinishRacingWithAWaitersCancelNeverHangs) {
  tbbx::single_flight<int, int> flights;
  tbbx::testing::watchdog dog(120s, "single_flight finish vs cancel");
  for (int i = 0; i < 3000; ++i) {
    std::atomic<bool> release{false};
    std::thread leader([&] {
      flights.run(7, [&] {
        while (!release.load()) std::this_thread::yield();
        return 1;
      });
    });
    ASSERT_TRUE(
        tbbx::testing::eventually([&] { return flights.callers(7) == 1; }));
    auto ctx_c = tbbx::with_cancel(background());
    auto& ctx = ctx_c.ctx;
    auto& cancel = ctx_c.cancel;
    std::thread waiter([&] {
      try {
        EXPECT_EQ(flights.run(ctx, 7, [] { return 2; }), 1);
      } catch (const tbbx::canceled_error&) {
      }
    });
    ASSERT_TRUE(tbbx::testing::eventually(
        [&] { return flights.callers(7) == 2 || flights.callers(7) == 0; }));
    tbbx::testing::run_together(2, [&](int t) {
      if (t == 0)
        cancel();
      else
        release = true;
    });
    leader.join();
    waiter.join();
  }
}

}  // namespace
