// SPDX-License-Identifier: Apache-2.0
// Contract tests of tbbx::retry.
#include "tbbx/patterns/retry.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>

#include "test_support.h"

namespace {

using namespace std::chrono_literals;
using tbbx::background;
using tbbx::context;
using Clock = std::chrono::steady_clock;

struct flaky : std::runtime_error {
  using std::runtime_error::runtime_error;
};

TEST(Retry, RetriesUntilSuccessWithGrowingWaits) {
  int calls = 0;
  std::vector<Clock::time_point> at;
  int result =
      tbbx::retry(background(), {.initial = 2ms, .max = 100ms, .jitter = 0},
                  [&](const context&) {
                    at.push_back(Clock::now());
                    if (++calls < 4) throw flaky("not yet");
                    return calls;
                  });
  EXPECT_EQ(result, 4);
  ASSERT_EQ(at.size(), 4u);
  EXPECT_GE(at[1] - at[0], 2ms);  // 2, 4, 8 ms
  EXPECT_GE(at[2] - at[1], 4ms);
  EXPECT_GE(at[3] - at[2], 8ms);
}

TEST(Retry, GivesUpAfterMaxAttemptsWithTheLastError) {
  int calls = 0;
  try {
    tbbx::retry(background(), {.initial = 0ms, .max = 0ms, .max_attempts = 3},
                [&](const context&) -> int {
                  throw flaky("attempt " + std::to_string(++calls));
                });
    FAIL();
  } catch (const flaky& e) {
    EXPECT_STREQ(e.what(), "attempt 3");
  }
  EXPECT_EQ(calls, 3);
}

TEST(Retry, RetryIfStopsAtErrorsNotWorthRetrying) {
  int calls = 0;
  auto only_flaky = [](const std::exception_ptr& e) {
    try {
      std::rethrow_exception(e);
    } catch (const flaky&) {
      return true;
    } catch (...) {
      return false;
    }
  };
  EXPECT_THROW(
      tbbx::retry(background(), {.initial = 0ms, .retry_if = only_flaky},
                  [&](const context&) {
                    ++calls;
                    throw std::invalid_argument("bad request");
                  }),
      std::invalid_argument);
  EXPECT_EQ(calls, 1);
}

TEST(Retry, NeverSleepsPastTheDeadline) {
  auto [ctx, cancel] = tbbx::with_timeout(background(), 50ms);
  const auto start = Clock::now();
  int calls = 0;
  EXPECT_THROW(tbbx::retry(ctx, {.initial = 1s, .max = 1s, .jitter = 0},
                           [&](const context&) -> int {
                             ++calls;
                             throw flaky("down");
                           }),
               flaky);
  EXPECT_EQ(calls, 1);
  EXPECT_LT(Clock::now() - start, 40ms);  // gave up instead of sleeping 1 s
}

TEST(Retry, StopsAtCancelWhileWaiting) {
  auto [ctx, cancel] = tbbx::with_cancel(background());
  std::thread canceler([&, c = std::move(cancel)]() mutable {
    std::this_thread::sleep_for(10ms);
    c();
  });
  const auto start = Clock::now();
  EXPECT_THROW(tbbx::retry(ctx, {.initial = 10s, .max = 10s},
                           [&](const context&) -> int { throw flaky("down"); }),
               tbbx::canceled_error);
  EXPECT_LT(Clock::now() - start, 5s);
  canceler.join();
}

TEST(Retry, VoidFunctionsAndBadOptions) {
  int calls = 0;
  tbbx::retry(background(), {}, [&](const context&) { ++calls; });
  EXPECT_EQ(calls, 1);
  auto f = [](const context&) {};
  EXPECT_THROW(tbbx::retry(background(), {.initial = -1ms}, f),
               std::invalid_argument);
  EXPECT_THROW(tbbx::retry(background(), {.initial = 2s, .max = 1s}, f),
               std::invalid_argument);
  EXPECT_THROW(tbbx::retry(background(), {.multiplier = 0.5}, f),
               std::invalid_argument);
  EXPECT_THROW(tbbx::retry(background(), {.jitter = 2}, f),
               std::invalid_argument);
  EXPECT_THROW(tbbx::retry(background(), {.max_attempts = 0}, f),
               std::invalid_argument);
}

}  // namespace
