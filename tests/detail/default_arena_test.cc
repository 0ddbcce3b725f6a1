// SPDX-License-Identifier: Apache-2.0
// White-box: the default arena replaces callers blocked outside it, so
// every hardware thread runs its tasks at once.
#include "tbbx/context/detail/default_arena.h"

#include <gtest/gtest.h>
#include <oneapi/tbb/task_arena.h>

#include <atomic>
#include <chrono>
#include <latch>

namespace {

TEST(DefaultArena, AllHardwareThreadsRunTasksWhileTheCallerBlocks) {
  const int n = tbbx::detail::default_concurrency();
  std::latch all_running(n);
  std::latch done(n);
  std::atomic<int> timed_out{0};
  for (int i = 0; i < n; ++i) {
    tbbx::detail::default_arena().enqueue([&] {
      all_running.count_down();
      // Each task holds its thread until all n are running at once.
      const auto until =
          std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (!all_running.try_wait()) {
        if (std::chrono::steady_clock::now() > until) {
          timed_out++;
          break;
        }
      }
      done.count_down();
    });
  }
  done.wait();  // the caller blocks outside the arena the whole time
  EXPECT_EQ(timed_out.load(), 0) << n << " tasks did not run side by side";
}

}  // namespace
