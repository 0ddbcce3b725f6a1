// SPDX-License-Identifier: Apache-2.0
// Stress: a weighted semaphore raced by acquires with random weights and
// contexts that are canceled, time out or are done already. Invariants:
//  - the units held never exceed the capacity;
//  - an acquire that throws took nothing, and a done context never
//    acquires: not even when its cancel returned just before the release
//    that freed the units (Go issue 63615), whatever state the waiter was
//    in at that moment;
//  - at the end every unit is back.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "stress_support.h"
#include "tbbx/context/context.h"
#include "tbbx/patterns/semaphore.h"

namespace {

using tbbx::stress::chance;
using tbbx::stress::pick;

void round(std::uint64_t seed) {
  tbbx::stress::rng r(seed);
  const int capacity = 1 + pick(r, 6);
  tbbx::semaphore s(capacity);
  std::atomic<int> held{0};
  const std::uint64_t thread_seed = r();
  tbbx::testing::run_together(4, [&](int t) {
    tbbx::stress::rng tr(thread_seed + t);
    for (int op = 0; op < 60; ++op) {
      const int n = 1 + pick(tr, capacity);
      const int how = pick(tr, 4);
      auto [ctx, cancel] =
          how == 0
              ? tbbx::with_timeout(tbbx::background(),
                                   std::chrono::microseconds(pick(tr, 300)))
              : tbbx::with_cancel(tbbx::background());
      if (how == 1) cancel();
      std::thread canceler;
      if (how == 2) {
        const auto delay = std::chrono::microseconds(pick(tr, 300));
        canceler = std::thread([delay, &c = cancel] {
          tbbx::testing::spin_for(delay);
          c();
        });
      }
      const bool done_before = ctx.done();
      bool got = false;
      try {
        s.acquire(ctx, n);
        got = true;
      } catch (const tbbx::context_error&) {
      }
      if (canceler.joinable()) canceler.join();
      if (done_before) {
        ASSERT_FALSE(got) << "a done context acquired";
      }
      if (!got) continue;
      const int now = held += n;
      ASSERT_LE(now, capacity) << "over capacity";
      if (chance(tr, 50)) std::this_thread::yield();
      held -= n;
      s.release(n);
    }
  });
  ASSERT_EQ(s.available(), capacity);
  ASSERT_EQ(s.waiting(), 0u);
}

// The only units come from a release made after the waiter's context was
// canceled, so the waiter must give up, whether the cancel finds it
// before its first check, queued, or being woken.
void canceled_before_release_round(std::uint64_t seed) {
  tbbx::stress::rng r(seed);
  const int weight = 1 + pick(r, 3);
  tbbx::semaphore s(weight);
  s.acquire(tbbx::background(), weight);  // all units held here
  auto [ctx, cancel] = tbbx::with_cancel(tbbx::background());
  std::atomic<bool> got{false};
  std::thread waiter([&, c = ctx] {
    try {
      s.acquire(c, weight);
      got = true;
    } catch (const tbbx::context_error&) {
    }
  });
  // Sometimes before the waiter checks its context, sometimes while it
  // queues, sometimes once it sleeps (starting a thread takes ~50 µs).
  tbbx::testing::spin_for(std::chrono::microseconds(pick(r, 300)));
  cancel();
  if (chance(r, 50))
    tbbx::testing::spin_for(std::chrono::microseconds(pick(r, 5)));
  s.release(weight);
  waiter.join();
  ASSERT_FALSE(got) << "units released after the cancel reached the waiter";
  ASSERT_EQ(s.available(), weight);
  ASSERT_EQ(s.waiting(), 0u);
}

TEST(SemaphoreStress, CanceledBeforeTheReleaseTakesNothing) {
  tbbx::stress::rounds("semaphore_cancel_before_release",
                       canceled_before_release_round);
}

TEST(SemaphoreStress, RacingAcquiresCancelsAndDeadlines) {
  tbbx::stress::rounds("semaphore_stress", round);
}

}  // namespace
