// SPDX-License-Identifier: Apache-2.0
// Stress: random trees of error_groups (limits, failures, cancels from
// outside, deadlines, tasks spawning tasks and nested groups). Invariants:
//  - every go()/try_go() that admitted or skipped a task either ran it
//    exactly once or counted it in skipped(): nothing is lost;
//  - every error thrown is kept (errors()), and wait() rethrows one of them
//    when there are any, else throws the cause if something was skipped;
//  - a group whose tasks spawn nothing never runs more than its limit at once;
//  - nothing hangs (the harness's watchdog).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "stress_support.h"
#include "tbbx/context/context.h"
#include "tbbx/patterns/error_group.h"

namespace {

using tbbx::context;
using tbbx::error_group;
using tbbx::stress::chance;
using tbbx::stress::pick;

struct task_failed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct group_check {
  std::atomic<long> admitted{0}, ran{0}, thrown{0};
  std::atomic<int> running{0}, peak{0};
};

void run_group(const context& parent, std::uint64_t seed, int depth);

void task_body(const context& ctx, group_check& check, std::uint64_t seed,
               int depth, bool leaf) {
  check.ran++;
  const int now = ++check.running;
  int seen = check.peak.load();
  while (now > seen && !check.peak.compare_exchange_weak(seen, now)) {
  }
  tbbx::stress::rng r(seed);
  for (int spin = pick(r, 200); spin > 0 && !ctx.done(); --spin) {
    std::this_thread::yield();
  }
  if (!leaf && depth < 3 && chance(r, 30)) run_group(ctx, r(), depth + 1);
  --check.running;
  if (chance(r, 8)) {
    check.thrown++;
    throw task_failed("task failed");
  }
}

void run_group(const context& parent, std::uint64_t seed, int depth) {
  tbbx::stress::rng r(seed);
  const bool leaf = chance(r, 40);  // a leaf group's tasks spawn nothing
  const int limit = chance(r, 50) ? -1 : 1 + pick(r, 3);
  const bool cancel_on_error = chance(r, 70);
  group_check check;
  std::vector<std::exception_ptr> errors;
  std::exception_ptr waited;
  std::size_t skipped = 0;
  {
    error_group g(parent, {.limit = limit, .cancel_on_error = cancel_on_error});
    const int tasks = 1 + pick(r, 12);
    std::function<void(const context&, std::uint64_t)> spawn_more;
    spawn_more = [&](const context& ctx, std::uint64_t s) {
      tbbx::stress::rng sr(s);
      task_body(ctx, check, sr(), depth, leaf);
      if (!leaf && chance(sr, 20)) {
        const std::uint64_t next = sr();
        if (chance(sr, 50)) {
          g.go([&, next](const context& c) { spawn_more(c, next); });
          check.admitted++;
        } else if (g.try_go(
                       [&, next](const context& c) { spawn_more(c, next); })) {
          check.admitted++;
        }
      }
    };
    for (int i = 0; i < tasks; ++i) {
      const std::uint64_t s = r();
      if (chance(r, 80)) {
        g.go([&, s](const context& c) { spawn_more(c, s); });
        check.admitted++;
      } else if (g.try_go([&, s](const context& c) { spawn_more(c, s); })) {
        check.admitted++;
      }
      if (chance(r, 5)) g.cancel();
    }
    try {
      g.wait();
    } catch (...) {
      waited = std::current_exception();
    }
    errors = g.errors();
    skipped = g.skipped();
  }
  ASSERT_EQ(check.ran.load() + static_cast<long>(skipped),
            check.admitted.load())
      << "a task was neither run nor counted skipped";
  ASSERT_EQ(static_cast<long>(errors.size()), check.thrown.load())
      << "an error was lost";
  if (!errors.empty()) {
    ASSERT_NE(waited, nullptr);
    ASSERT_NE(std::find(errors.begin(), errors.end(), waited), errors.end())
        << "wait() threw something that is not one of the errors";
  } else if (skipped != 0) {
    ASSERT_NE(waited, nullptr) << "a skipped task went unreported";
  } else {
    ASSERT_EQ(waited, nullptr);
  }
  if (leaf && limit > 0) {
    ASSERT_LE(check.peak.load(), limit);
  }
}

void round(std::uint64_t seed) {
  tbbx::stress::rng r(seed);
  auto [parent, cancel] =
      chance(r, 30)
          ? tbbx::with_timeout(tbbx::background(),
                               std::chrono::microseconds(pick(r, 2000)))
          : tbbx::with_cancel(tbbx::background());
  const bool cancel_from_outside = chance(r, 30);
  const auto delay = std::chrono::microseconds(pick(r, 500));
  std::thread canceler([&, &c = cancel] {
    if (!cancel_from_outside) return;
    tbbx::testing::spin_for(delay);
    c();
  });
  // Under background() the groups' values cost no reference, so nested
  // groups leave their parents as their wait() ends (the other path).
  const bool under_background = chance(r, 25);
  run_group(under_background ? tbbx::background() : parent, r(), 0);
  canceler.join();
}

TEST(GroupStress, RandomGroupTrees) {
  tbbx::stress::rounds("group_stress", round);
}

}  // namespace
