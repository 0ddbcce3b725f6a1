// SPDX-License-Identifier: Apache-2.0
// Stress: hedge, first_of and single_flight raced by failing attempts,
// parent cancels and deadlines. Invariants:
//  - hedge() and first_of() return a value some attempt succeeded with,
//    throw the parent's cause once it ended, or throw a multi_error of
//    every attempt's error; nothing hangs;
//  - every caller of a single_flight gets the flight's result or error, or
//    its own context's cause; never a result of another execution.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "stress_support.h"
#include "tbbx/context/context.h"
#include "tbbx/context/multi_error.h"
#include "tbbx/patterns/first_of.h"
#include "tbbx/patterns/hedge.h"
#include "tbbx/patterns/single_flight.h"

namespace {

using tbbx::context;
using tbbx::stress::chance;
using tbbx::stress::pick;

struct attempt_failed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void hedge_round(std::uint64_t seed) {
  tbbx::stress::rng r(seed);
  auto [parent, cancel] =
      chance(r, 20)
          ? tbbx::with_timeout(tbbx::background(),
                               std::chrono::microseconds(pick(r, 500)))
          : tbbx::with_cancel(tbbx::background());
  const int max_attempts = 1 + pick(r, 4);
  const auto delay = std::chrono::microseconds(pick(r, 200));
  const int fail_percent = pick(r, 100);
  const std::uint64_t attempt_seed = r();
  auto counter = std::make_shared<std::atomic<int>>(0);
  auto f = [=](const context& attempt) {
    const int index = (*counter)++;
    tbbx::stress::rng ar(attempt_seed + index);
    for (int spin = pick(ar, 300); spin > 0 && !attempt.done(); --spin) {
      std::this_thread::yield();
    }
    if (pick(ar, 100) < fail_percent) throw attempt_failed("failed");
    return 1 + index % 4;
  };
  const bool cancel_midway = chance(r, 20);
  const auto when = std::chrono::microseconds(pick(r, 300));
  std::thread canceler([&, &c = cancel] {
    if (!cancel_midway) return;
    tbbx::testing::spin_for(when);
    c();
  });
  try {
    const int v =
        chance(r, 50)
            ? tbbx::hedge(parent,
                          {.delay = delay, .max_attempts = max_attempts}, f)
            : tbbx::first_of(parent, f, f);
    ASSERT_GE(v, 1);
    ASSERT_LE(v, 4);
  } catch (const tbbx::multi_error& e) {
    ASSERT_GE(e.size(), 1u);
    for (const auto& err : e.errors()) {
      ASSERT_NE(tbbx::find_error<attempt_failed>(err), nullptr);
    }
  } catch (const tbbx::context_error&) {
    ASSERT_TRUE(parent.done());
  }
  canceler.join();
}

void flight_round(std::uint64_t seed) {
  tbbx::stress::rng r(seed);
  tbbx::single_flight<int, long> flights;
  std::atomic<long> executions{0};
  const std::uint64_t thread_seed = r();
  tbbx::testing::run_together(4, [&](int t) {
    tbbx::stress::rng tr(thread_seed + t);
    for (int op = 0; op < 40; ++op) {
      const int key = pick(tr, 3);
      auto [ctx, cancel] = tbbx::with_timeout(
          tbbx::background(), std::chrono::microseconds(50 + pick(tr, 300)));
      const bool fails = chance(tr, 20);
      try {
        const long v = flights.run(ctx, key, [&]() -> long {
          const long id = ++executions;
          for (int spin = pick(tr, 100); spin > 0; --spin) {
            std::this_thread::yield();
          }
          if (fails) throw attempt_failed("flight failed");
          return id * 10 + key;
        });
        ASSERT_EQ(v % 10, key) << "a result of another key's flight";
        ASSERT_LE(v / 10, executions.load());
      } catch (const attempt_failed&) {
      } catch (const tbbx::context_error&) {
        ASSERT_TRUE(ctx.done());
      }
    }
  });
  ASSERT_EQ(flights.in_flight(), 0u);
}

TEST(PatternsStress, HedgesUnderRacingFailuresAndCancels) {
  tbbx::stress::rounds("hedge_stress", hedge_round);
}

TEST(PatternsStress, SingleFlightUnderRacingCancels) {
  tbbx::stress::rounds("single_flight_stress", flight_round);
}

}  // namespace
