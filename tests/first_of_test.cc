// SPDX-License-Identifier: Apache-2.0
// Contract tests of tbbx::first_of.
#include "tbbx/patterns/first_of.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "tbbx/context/multi_error.h"
#include "test_support.h"

namespace {

using namespace std::chrono_literals;
using tbbx::background;
using tbbx::context;

TEST(FirstOf, TheFirstSuccessWinsAndTheRestAreCanceled) {
  auto slow_canceled = std::make_shared<std::atomic<bool>>(false);
  auto slow_started = std::make_shared<std::atomic<bool>>(false);
  std::string winner = tbbx::first_of(
      background(),
      [slow_canceled, slow_started](const context& c) -> std::string {
        *slow_started = true;
        c.wait_for(10s);  // slow: only the cancel ends it
        *slow_canceled = c.done();
        c.throw_if_done();
        return "slow";
      },
      [slow_started](const context&) -> std::string {
        // Win only once the slow one runs, so that it has to be canceled.
        while (!slow_started->load()) std::this_thread::yield();
        return "fast";
      });
  EXPECT_EQ(winner, "fast");
  EXPECT_TRUE(tbbx::testing::eventually([&] { return slow_canceled->load(); }));
}

TEST(FirstOf, AllStartAtOnce) {
  struct shared {
    std::atomic<int> started{0};
  };
  auto s = std::make_shared<shared>();
  auto wait_for_all = [s](const context&) {
    s->started++;
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (s->started.load() < 2) {
      if (std::chrono::steady_clock::now() > until) return false;
    }
    return true;
  };
  EXPECT_TRUE(tbbx::first_of(background(), wait_for_all, wait_for_all));
}

TEST(FirstOf, AllFailedIsAMultiError) {
  try {
    tbbx::first_of(
        background(),
        [](const context&) -> int { throw std::runtime_error("a"); },
        [](const context&) -> int { throw std::runtime_error("b"); },
        [](const context&) -> int { throw std::runtime_error("c"); });
    FAIL();
  } catch (const tbbx::multi_error& e) {
    EXPECT_EQ(e.size(), 3u);
  }
}

TEST(FirstOf, AFailureDoesNotHideALaterSuccess) {
  int v = tbbx::first_of(
      background(),
      [](const context&) -> int { throw std::runtime_error("x"); },
      [](const context&) {
        std::this_thread::sleep_for(2ms);
        return 9;
      });
  EXPECT_EQ(v, 9);
}

TEST(FirstOf, TheParentEndingFirstThrowsItsCause) {
  auto [ctx, cancel] = tbbx::with_timeout(background(), 10ms);
  EXPECT_THROW(tbbx::first_of(
                   ctx,
                   [](const context& c) {
                     c.wait();
                     c.throw_if_done();
                     return 1;
                   },
                   [](const context& c) {
                     c.wait();
                     c.throw_if_done();
                     return 2;
                   }),
               tbbx::deadline_exceeded_error);
}

TEST(FirstOf, VoidFunctions) {
  auto ran = std::make_shared<std::atomic<int>>(0);
  tbbx::first_of(background(), [ran](const context&) { (*ran)++; });
  EXPECT_EQ(ran->load(), 1);
}

}  // namespace
