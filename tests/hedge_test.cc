// SPDX-License-Identifier: Apache-2.0
// Contract tests of hedge() and hedger (README "Patterns", hedged tasks).
// Timing assertions use generous bounds and latches: none depends on how
// fast this machine is.
#include "tbbx/patterns/hedge.h"

#include <gtest/gtest.h>

#include <atomic>
#include <climits>
#include <latch>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tbbx/context/multi_error.h"
#include "tbbx/patterns/first_of.h"
#include "tbbx/scheduler/arena.h"
#include "test_support.h"

namespace {

using namespace std::chrono_literals;
using tbbx::background;
using tbbx::context;
using tbbx::hedge;
using tbbx::testing::eventually;
using Clock = std::chrono::steady_clock;

struct attempt_failed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Blocks until the attempt's context ends (a loser), at most `limit`.
void wait_until_canceled(const context& attempt, Clock::duration limit = 10s) {
  attempt.wait_for(limit);
}

TEST(Hedge, AFastFirstAttemptWinsAlone) {
  auto started = std::make_shared<std::atomic<int>>(0);
  int answer = hedge(background(), {.delay = 10s, .max_attempts = 3},
                     [started](const context&) {
                       started->fetch_add(1);
                       return 42;
                     });
  EXPECT_EQ(answer, 42);
  EXPECT_EQ(started->load(), 1);
}

TEST(Hedge, ASlowFirstAttemptIsHedgedAfterTheDelayAndCanceled) {
  struct shared {
    std::atomic<int> next{0};
    std::atomic<Clock::time_point> second_start;
    std::atomic<bool> loser_canceled{false};
  };
  auto s = std::make_shared<shared>();
  const auto delay = 5ms;
  // The delay runs from when the first attempt starts, which is after this
  // and before its body (the body's own clock reading is not ordered with
  // the timer that starts the second attempt).
  const auto call_start = Clock::now();
  std::string winner =
      hedge(background(), {.delay = delay, .max_attempts = 2},
            [s](const context& attempt) -> std::string {
              if (s->next.fetch_add(1) == 0) {
                wait_until_canceled(attempt);  // slow: never finishes by itself
                s->loser_canceled = attempt.done();
                throw attempt_failed("slow attempt gave up");
              }
              s->second_start = Clock::now();
              return "second";
            });
  EXPECT_EQ(winner, "second");
  const auto gap = s->second_start.load() - call_start;
  EXPECT_GE(gap, delay);
  EXPECT_LT(gap, delay + 2s);
  EXPECT_TRUE(eventually([&] { return s->loser_canceled.load(); }));
}

TEST(Hedge, AFailureStartsTheNextAttemptAtOnce) {
  auto next = std::make_shared<std::atomic<int>>(0);
  const auto start = Clock::now();
  int answer = hedge(background(), {.delay = 1h, .max_attempts = 3},
                     [next](const context&) {
                       if (next->fetch_add(1) == 0) throw attempt_failed("x");
                       return 7;
                     });
  EXPECT_EQ(answer, 7);
  EXPECT_LT(Clock::now() - start, 10min);  // did not wait for the 1 h delay
}

TEST(Hedge, AllAttemptsFailedIsAMultiErrorOfEveryError) {
  auto next = std::make_shared<std::atomic<int>>(0);
  try {
    hedge(
        background(), {.delay = 1ms, .max_attempts = 3},
        [next](const context&) -> int {
          throw attempt_failed("attempt " + std::to_string(next->fetch_add(1)));
        });
    FAIL() << "returned";
  } catch (const tbbx::multi_error& e) {
    EXPECT_EQ(e.size(), 3u);
    EXPECT_NE(tbbx::find_error<attempt_failed>(std::make_exception_ptr(e)),
              nullptr);
  }
}

TEST(Hedge, VoidResultsWork) {
  auto ran = std::make_shared<std::atomic<int>>(0);
  hedge(background(), {.delay = 1s},
        [ran](const context&) { ran->fetch_add(1); });
  EXPECT_EQ(ran->load(), 1);
}

TEST(Hedge, ParentEndingFirstThrowsItsCause) {
  auto parent_c = tbbx::with_cancel(background());
  auto& parent = parent_c.ctx;
  auto& cancel = parent_c.cancel;
  auto cause = std::make_exception_ptr(attempt_failed("client went away"));
  auto started = std::make_shared<std::latch>(1);
  std::thread canceler([&] {
    started->wait();
    cancel(cause);
  });
  auto first = std::make_shared<std::atomic<bool>>(true);
  std::exception_ptr thrown;
  try {
    hedge(parent, {.delay = 1ms, .max_attempts = 2},
          [started, first](const context& attempt) -> int {
            if (first->exchange(false)) started->count_down();
            wait_until_canceled(attempt);
            attempt.throw_if_done();
            return 0;
          });
  } catch (...) {
    thrown = std::current_exception();
  }
  canceler.join();
  EXPECT_EQ(thrown, cause);
}

TEST(Hedge, ADoneParentRunsNothing) {
  auto [parent, cancel] = tbbx::with_timeout(background(), -1s);
  auto ran = std::make_shared<std::atomic<int>>(0);
  EXPECT_THROW(hedge(parent, {.delay = 1ms},
                     [ran](const context&) { return ran->fetch_add(1); }),
               tbbx::deadline_exceeded_error);
  EXPECT_EQ(ran->load(), 0);
}

TEST(Hedge, BadPoliciesAreRejected) {
  auto f = [](const context&) { return 1; };
  EXPECT_THROW(hedge(background(), {.delay = -1ms}, f), std::invalid_argument);
  EXPECT_THROW(hedge(background(), {.delay = 1ms, .max_attempts = 0}, f),
               std::invalid_argument);
  EXPECT_THROW(tbbx::hedger({.quantile = 0}), std::invalid_argument);
  EXPECT_THROW(tbbx::hedger({.quantile = 1.5}), std::invalid_argument);
  EXPECT_THROW(tbbx::hedger({.budget = -0.1}), std::invalid_argument);
  EXPECT_THROW(tbbx::hedger({.max_attempts = 0}), std::invalid_argument);
  try {
    hedge(background(), {.delay = 1ms, .max_attempts = -2}, f);
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()).rfind("tbbx::hedge: ", 0), 0u) << e.what();
  }
}

// hedge() returns without waiting for losers; the loser keeps the shared
// state alive (under ASan a use after free here would be caught).
TEST(Hedge, ReturnsWithoutWaitingForLosers) {
  struct shared {
    std::atomic<int> next{0};
    std::latch release_loser{1};
    std::atomic<bool> loser_done{false};
  };
  auto s = std::make_shared<shared>();
  int answer = hedge(background(), {.delay = 1ms, .max_attempts = 2},
                     [s](const context&) {
                       if (s->next.fetch_add(1) == 0) {
                         s->release_loser.wait();  // ignores cancellation
                         s->loser_done = true;
                         return 1;
                       }
                       return 2;
                     });
  EXPECT_EQ(answer, 2);
  EXPECT_FALSE(s->loser_done.load());  // still blocked: we did not wait
  s->release_loser.count_down();
  EXPECT_TRUE(eventually([&] { return s->loser_done.load(); }));
}

TEST(Hedge, NoAttemptStartsAfterTheWinner) {
  auto started = std::make_shared<std::atomic<int>>(0);
  hedge(background(), {.delay = 2ms, .max_attempts = 5},
        [started](const context&) {
          started->fetch_add(1);
          return 0;
        });
  std::this_thread::sleep_for(30ms);  // several delays pass after the win
  EXPECT_EQ(started->load(), 1);
}

// The rule that makes hedging work on 2 cores: while the caller is blocked
// in hedge(), the attempts still get every core. Attempt 1 cannot finish
// until attempt 2 has started; if attempt 2 queued behind it, the latch
// would time out.
TEST(Hedge, AttemptsRunSideBySideWhileTheCallerBlocks) {
  struct shared {
    std::atomic<int> next{0};
    std::latch second_started{1};
    std::atomic<bool> timed_out{false};
  };
  auto s = std::make_shared<shared>();
  int answer = hedge(background(), {.delay = 1ms, .max_attempts = 2},
                     [s](const context&) {
                       if (s->next.fetch_add(1) == 0) {
                         const auto until = Clock::now() + 10s;
                         while (!s->second_started.try_wait()) {
                           if (Clock::now() > until) {
                             s->timed_out = true;
                             return 1;
                           }
                         }
                         return 1;
                       }
                       s->second_started.count_down();
                       return 2;
                     });
  EXPECT_FALSE(s->timed_out.load());
  EXPECT_TRUE(answer == 1 || answer == 2);  // either may claim the win
}

// A result that cannot be stored fails its attempt instead of deciding the
// request with nothing to return (found by review: hedge() hung).
TEST(Hedge, AResultThatCannotBeStoredIsTheAttemptsFailure) {
  struct fragile {
    fragile() = default;
    fragile(const fragile&) { throw std::runtime_error("copy failed"); }
  };
  EXPECT_THROW(hedge(background(), {.delay = 1ms, .max_attempts = 2},
                     [](const context&) { return fragile(); }),
               tbbx::multi_error);
}

TEST(Hedger, LearnsTheDelayFromLatencies) {
  tbbx::hedger h({.quantile = 0.95, .initial_delay = 50ms});
  EXPECT_EQ(h.current_delay(), 50ms);
  for (int i = 0; i < 300; ++i) {
    h(background(), [](const context&) {
      const auto until = Clock::now() + 200us;
      while (Clock::now() < until) {
      }
      return 0;
    });
  }
  // Every request took ~200 us: the learned p95 is near that, far below
  // the initial 50 ms.
  EXPECT_GE(h.current_delay(), 150us);
  EXPECT_LT(h.current_delay(), 20ms);
  auto s = h.stats();
  EXPECT_EQ(s.requests, 300u);
  EXPECT_EQ(s.attempts, s.requests + s.hedges);
  EXPECT_EQ(s.original_wins + s.hedge_wins, 300u);
}

TEST(Hedger, ExtraAttemptsStayInsideTheBudget) {
  // Every attempt is slow compared with the delay, so every request wants
  // a hedge; the budget must refuse most of them.
  tbbx::hedger h({.budget = 0.05, .initial_delay = 0ms, .max_attempts = 2});
  for (int i = 0; i < 400; ++i) {
    h(background(), [](const context& attempt) {
      attempt.wait_for(300us);
      return 0;
    });
  }
  auto s = h.stats();
  EXPECT_EQ(s.requests, 400u);
  EXPECT_LE(static_cast<double>(s.hedges), 0.05 * 400 + 3);
  EXPECT_GT(s.budget_refusals, 0u);
  EXPECT_EQ(s.attempts, s.requests + s.hedges);
}

TEST(Hedger, CountsHedgeWinsAndCanceledAttempts) {
  tbbx::hedger h({.budget = 1.0, .initial_delay = 1ms});
  auto next = std::make_shared<std::atomic<int>>(0);
  for (int i = 0; i < 10; ++i) {
    next->store(0);
    h(background(), [next](const context& attempt) {
      if (next->fetch_add(1) == 0) {
        wait_until_canceled(attempt);  // the original is always slow
        attempt.throw_if_done();
      }
      return 0;
    });
  }
  auto s = h.stats();
  EXPECT_EQ(s.hedge_wins, 10u);
  EXPECT_EQ(s.original_wins, 0u);
  EXPECT_EQ(s.canceled_attempts, 10u);
}

TEST(Hedger, ConcurrentRequestsShareOneHedger) {
  tbbx::hedger h({.initial_delay = 200us});
  tbbx::testing::run_together(4, [&](int t) {
    for (int i = 0; i < 100; ++i) {
      int r = h(background(), [t, i](const context&) { return t * 1000 + i; });
      ASSERT_EQ(r, t * 1000 + i);
    }
  });
  auto s = h.stats();
  EXPECT_EQ(s.requests, 400u);
  EXPECT_EQ(s.attempts, s.requests + s.hedges);
  EXPECT_EQ(s.original_wins + s.hedge_wins, 400u);
}

// Defect: hedge() called from inside attempts blocked their workers; once
// every worker was such a caller the inner attempts never ran.
TEST(Hedge, HedgesInsideAttemptsMakeProgress) {
  tbbx::testing::watchdog dog(60s, "nested hedges");
  auto inner = [](const context& attempt) {
    return hedge(attempt, {.delay = 100us, .max_attempts = 2},
                 [](const context&) { return 1; });
  };
  // Every worker of the default arena is an outer attempt calling hedge().
  auto outer = [inner](const context& attempt) {
    return hedge(attempt, {.delay = 100us, .max_attempts = 3}, inner);
  };
  for (int i = 0; i < 200; ++i) {
    EXPECT_EQ(tbbx::first_of(background(), outer, outer, outer, outer), 1);
  }
}

TEST(Hedge, HedgesInsideAttemptsOnASingleThreadArena) {
  tbbx::testing::watchdog dog(60s, "nested hedges on one thread");
  tbbx::arena one({.name = "one", .max_concurrency = 1});
  auto inner = [&](const context& attempt) {
    return hedge(attempt, {.delay = 50us, .max_attempts = 2, .arena = &one},
                 [](const context&) { return 2; });
  };
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(hedge(background(),
                    {.delay = 50us, .max_attempts = 2, .arena = &one}, inner),
              2);
  }
}

// A delay too long to add to the clock means "never another attempt".
TEST(Hedge, AHugeDelayNeverStartsASecondAttempt) {
  auto started = std::make_shared<std::atomic<int>>(0);
  auto [ctx, cancel] = tbbx::with_timeout(background(), 30ms);
  EXPECT_THROW(hedge(ctx, {.delay = Clock::duration::max(), .max_attempts = 2},
                     [started](const context& attempt) {
                       (*started)++;
                       wait_until_canceled(attempt);
                       return 0;
                     }),
               tbbx::deadline_exceeded_error);
  EXPECT_EQ(started->load(), 1);
}

// Memory follows the attempts started, not max_attempts.
TEST(Hedge, AHugeMaxAttemptsAllocatesNothingUpFront) {
  EXPECT_EQ(hedge(background(), {.delay = 1ms, .max_attempts = INT_MAX},
                  [](const context&) { return 5; }),
            5);
}

}  // namespace
