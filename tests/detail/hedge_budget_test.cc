// SPDX-License-Identifier: Apache-2.0
// White-box: the hedger's budget decays in one atomic step, so threads that
// cross the halving point together can neither underflow it nor erase it.
#include "tbbx/patterns/detail/hedge_budget.h"

#include <gtest/gtest.h>

#include <atomic>

#include "test_support.h"

namespace {

using tbbx::detail::hedge_budget;

TEST(HedgeBudget, AllowsFractionOfRequestsPlusTheFloor) {
  hedge_budget b(0.1, 1000, 3);
  int allowed = 0;
  for (int i = 0; i < 100; ++i) {
    b.on_request();
    if (b.try_spend()) ++allowed;
  }
  EXPECT_EQ(allowed, 13);  // 0.1 * 100 + 3
  EXPECT_FALSE(b.try_spend());
}

TEST(HedgeBudget, HalvingKeepsTheBound) {
  hedge_budget b(0.05, 1000, 3);
  for (int i = 0; i < 1999; ++i) {
    b.on_request();
    while (b.try_spend()) {
    }
  }
  const auto extra_before = b.counts().extra;
  b.on_request();  // the 2000th: both counts halve
  EXPECT_EQ(b.counts().requests, 1000u);
  EXPECT_EQ(b.counts().extra, extra_before - extra_before / 2);
  EXPECT_LE(static_cast<double>(b.counts().extra), 0.05 * 1000 + 3);
}

// Defect: every thread that saw the threshold subtracted half; with three
// or more in that window the unsigned count wrapped and then allowed every
// hedge.
TEST(HedgeBudget, ConcurrentRequestsNeverUnderflowIt) {
  hedge_budget b(0.05, 1000, 3);
  std::atomic<long> spent{0};
  tbbx::testing::run_together(8, [&](int) {
    for (int i = 0; i < 50'000; ++i) {
      b.on_request();
      if (b.try_spend()) spent++;
      const auto [requests, extra] = b.counts();
      ASSERT_LT(requests, 2000u);
      ASSERT_LE(static_cast<double>(extra), 0.05 * requests + 3);
    }
  });
  EXPECT_GT(spent.load(), 0);
  EXPECT_LT(spent.load(), 400'000 / 10);
}

}  // namespace
