// SPDX-License-Identifier: Apache-2.0
// White-box: the timing wheel never fires an entry before its due time,
// whatever the due time and the current time are within a tick. (The soak
// found deadlines firing up to a tick early: the wheel was advanced to the
// current time rounded up, so an entry due later in the current tick fired
// at once.)
#include "tbbx/context/detail/timer_wheel.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <random>
#include <unordered_map>
#include <vector>

#include "tbbx/context/detail/timer_entry.h"

namespace {

using tbbx::detail::timer_entry;
using tbbx::detail::timer_wheel;
using clock_type = timer_wheel::clock;
using std::chrono::nanoseconds;

void never_fired(timer_entry*) noexcept {}

clock_type::time_point at_ns(std::int64_t ns) {
  return clock_type::time_point(
      std::chrono::duration_cast<clock_type::duration>(nanoseconds(ns)));
}

TEST(TimerWheel, TicksRoundDueTimesUpAndTheCurrentTimeDown) {
  // A tick is 1 us.
  EXPECT_EQ(timer_wheel::to_tick(at_ns(5'000)), 5);
  EXPECT_EQ(timer_wheel::to_tick(at_ns(5'001)), 6);
  EXPECT_EQ(timer_wheel::elapsed_tick(at_ns(5'000)), 5);
  EXPECT_EQ(timer_wheel::elapsed_tick(at_ns(5'999)), 5);
  EXPECT_EQ(timer_wheel::from_tick(6), at_ns(6'000));
}

// An entry due 29 ns after "now", in the same tick, is not due yet.
TEST(TimerWheel, AnEntryDueLaterInTheCurrentTickWaitsForIt) {
  const std::int64_t now = 1'000'000'471;
  timer_wheel wheel(timer_wheel::elapsed_tick(at_ns(now)));
  timer_entry e(never_fired);
  wheel.insert(&e, timer_wheel::to_tick(at_ns(now + 29)));
  timer_wheel::entry_list due;
  wheel.advance_to(at_ns(now), due);
  EXPECT_TRUE(due.empty());
  wheel.advance_to(at_ns(now + 528), due);
  EXPECT_TRUE(due.empty());  // 999 ns into the tick: still before the next
  wheel.advance_to(at_ns(now + 529), due);
  EXPECT_EQ(due.pop_front(), &e);
}

// Random due times and random advances, across every level of the wheel:
// an entry fires at the first advance to a time at or after its due time.
TEST(TimerWheel, RandomEntriesFireNeitherEarlyNorLate) {
  std::mt19937_64 r(20261202);
  const std::int64_t start = 3'000'000'123;
  timer_wheel wheel(timer_wheel::elapsed_tick(at_ns(start)));
  constexpr int kEntries = 2'000;
  std::deque<timer_entry> entries;
  std::unordered_map<const timer_entry*, int> index;
  std::vector<std::int64_t> due_ns(kEntries);
  std::vector<bool> fired(kEntries, false);
  for (int i = 0; i < kEntries; ++i) {
    // From a few ns to about 70 s ahead (the wheel's upper levels).
    const auto magnitude = static_cast<int>(r() % 37);
    due_ns[i] =
        start + 1 +
        static_cast<std::int64_t>(r() % (std::uint64_t{1} << magnitude));
    timer_entry& e = entries.emplace_back(never_fired);
    index[&e] = i;
    wheel.insert(&e, timer_wheel::to_tick(at_ns(due_ns[i])));
  }
  std::int64_t now = start;
  int remaining = kEntries;
  while (remaining > 0) {
    const auto magnitude = static_cast<int>(r() % 34);
    now += 1 + static_cast<std::int64_t>(r() % (std::uint64_t{1} << magnitude));
    const std::int64_t now_tick = timer_wheel::elapsed_tick(at_ns(now));
    timer_wheel::entry_list due;
    wheel.advance_to(at_ns(now), due);
    while (timer_entry* e = due.pop_front()) {
      const int i = index.at(e);
      ASSERT_FALSE(fired[i]) << "entry " << i << " fired twice";
      ASSERT_GE(now, due_ns[i]) << "entry " << i << " fired early";
      fired[i] = true;
      --remaining;
    }
    // What is left is not due yet: its rounded-up due tick is ahead.
    for (int i = 0; i < kEntries; ++i) {
      if (fired[i]) continue;
      ASSERT_TRUE(timer_wheel::queued(&entries[i])) << "entry " << i;
      ASSERT_GT(timer_wheel::to_tick(at_ns(due_ns[i])), now_tick)
          << "entry " << i << " is late";
    }
  }
}

}  // namespace
