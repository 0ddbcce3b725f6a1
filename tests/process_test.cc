// SPDX-License-Identifier: Apache-2.0
// Contract tests of the process lifecycle: what tbbx does at exit, in a
// fork()ed child, from exit-time destructors, and how its timer thread runs
// next to other threads. Each scenario that needs a fresh process runs as a
// GoogleTest death test in the "threadsafe" style (the binary re-executes
// itself and runs only that scenario).
#include <gtest/gtest.h>
#include <oneapi/tbb/parallel_for.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "tbbx/context/callbacks.h"
#include "tbbx/context/context.h"
#include "tbbx/context/timer.h"
#include "test_support.h"

#if defined(__linux__)
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

namespace {

using namespace std::chrono_literals;
using tbbx::background;
using Clock = std::chrono::steady_clock;

class Process : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

// A deadline created and waited on by a static destructor, after every
// exit handler has run, still fires: the timer is never stopped.
struct waits_at_exit {
  ~waits_at_exit() {
    auto [ctx, cancel] = tbbx::with_timeout(background(), 20ms);
    if (!ctx.wait_for(10s)) std::_Exit(2);
  }
};

[[noreturn]] void wait_at_exit_then_exit() {
  auto [warm, cancel] = tbbx::with_timeout(background(), 1ms);
  warm.wait();  // the timer runs before exit
  static waits_at_exit at_exit;
  std::exit(0);
}

TEST_F(Process, ADeadlineCreatedByAStaticDestructorFires) {
  EXPECT_EXIT(wait_at_exit_then_exit(), ::testing::ExitedWithCode(0), "");
}

[[noreturn]] void exit_from_a_deadline_callback() {
  auto [ctx, cancel] = tbbx::with_timeout(background(), 5ms);
  auto reg = tbbx::on_done(ctx, [] { std::exit(3); });
  std::this_thread::sleep_for(30s);
  std::_Exit(9);
}

// exit() from a callback of a deadline exits with the given status.
TEST_F(Process, ExitFromADeadlineCallbackExits) {
  EXPECT_EXIT(exit_from_a_deadline_callback(), ::testing::ExitedWithCode(3),
              "");
}

#if defined(__linux__)

[[noreturn]] void check_worker_policy() {
  std::atomic<int> realtime{0}, bodies{0};
  std::atomic<bool> finished{false};
  auto [ctx, cancel] = tbbx::with_timeout(background(), 5ms);
  auto h = tbbx::after_func(ctx, [&] {
    tbb::parallel_for(0, 20'000, [&](int) {
      bodies++;
      if (sched_getscheduler(0) != SCHED_OTHER) realtime++;
    });
    finished = true;
  });
  ctx.wait();
  if (!tbbx::testing::eventually([&] { return finished.load(); }, 30s)) {
    std::_Exit(4);
  }
  std::fprintf(stderr, "timer realtime: %d, bodies at real-time: %d\n",
               tbbx::get_timer_status().realtime ? 1 : 0, realtime.load());
  std::_Exit(realtime.load() == 0 && bodies.load() == 20'000 ? 0 : 1);
}

// Nothing the timer thread starts inherits its real-time policy: an
// after_func fired by a deadline as the process's first use of oneTBB
// creates oneTBB's workers, and they must run at normal priority.
TEST_F(Process, WorkersStartedFromADeadlineRunAtNormalPriority) {
  EXPECT_EXIT(check_worker_policy(), ::testing::ExitedWithCode(0), "");
}

// A fork()ed child gets a working timer: deadlines pending at the fork fire
// there (even for a child that only polls done()), and new ones too. A
// thread churns timers meanwhile, so some forks happen while the timer
// holds its lock.
//
// Not under ThreadSanitizer (it cannot start threads after a multi-threaded
// fork) nor AddressSanitizer: g++ 12's ASan allocator has no fork handlers,
// so a size-class lock that any other thread (the churn, the timer's
// deferred frees, a thread starting up) holds at the fork stays held
// forever in the child, and the child's restarted timer and deferred
// threads block on it in their first calloc (seen with gdb: both in
// SizeClassAllocator64::GetFromAllocator). That is the sanitizer's
// runtime, not tbbx: the release, chaos and clang builds run this test.
TEST_F(Process, DeadlinesFireInAForkedChild) {
  if (tbbx::testing::under_thread_sanitizer) {
    GTEST_SKIP() << "ThreadSanitizer cannot start threads after a "
                    "multi-threaded fork()";
  }
  if (tbbx::testing::under_address_sanitizer) {
    GTEST_SKIP() << "g++ 12's AddressSanitizer allocator is not fork-safe "
                    "while other threads allocate";
  }
  std::atomic<bool> stop{false};
  std::thread churn([&] {
    while (!stop.load()) {
      auto [c, k] = tbbx::with_timeout(background(), 100us);
    }
  });
  struct joiner {  // also when an assertion below returns early
    std::atomic<bool>& stop;
    std::thread& t;
    ~joiner() {
      stop = true;
      t.join();
    }
  } join_churn{stop, churn};
  for (int i = 0; i < 20; ++i) {
    auto [pending, cancel] = tbbx::with_timeout(background(), 20ms);
    const pid_t child = fork();
    ASSERT_NE(child, -1);
    if (child == 0) {
      const auto until = Clock::now() + 10s;
      while (!pending.done()) {
        if (Clock::now() > until) _exit(10);
      }
      auto [fresh, cancel_fresh] = tbbx::with_timeout(background(), 5ms);
      _exit(fresh.wait_for(10s) ? 0 : 11);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status))
        << "fork " << i << ": the child died of signal " << WTERMSIG(status);
    EXPECT_EQ(WEXITSTATUS(status), 0) << "fork " << i;
  }
}

[[noreturn]] void measure_lateness_on_one_cpu() {
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(0, &one);
  sched_setaffinity(0, sizeof(one), &one);  // before any thread starts
  Clock::duration worst{};
  for (int i = 0; i < 40; ++i) {
    const auto deadline = Clock::now() + 2ms;
    auto [parent, cancel] = tbbx::with_deadline(background(), deadline);
    std::thread churn([&p = parent] {
      while (!p.done()) {
        auto [child, cancel_child] = tbbx::with_cancel(p);
      }
    });
    parent.wait();
    worst = std::max(worst, Clock::now() - deadline);
    churn.join();
  }
  const auto worst_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(worst);
  std::fprintf(stderr, "timer realtime: %d, worst lateness %lld ms\n",
               tbbx::get_timer_status().realtime ? 1 : 0,
               static_cast<long long>(worst_ms.count()));
  std::_Exit(worst < 100ms ? 0 : 1);
}

// The timer's real-time priority must not make deadlines late: on one CPU,
// with a thread creating children of the parent whose deadline fires (and
// so holding its lock now and then), every deadline is seen on time. (The
// defect: the timer spun at SCHED_FIFO on a lock held by the preempted
// normal-priority thread, up to the kernel's RT throttling: 950 ms.) The
// bound here is loose; bench/timer_priority_benchmark reports the figures.
TEST_F(Process, DeadlinesOnOneBusyCpuAreNotHeldUpByTheirOwnParent) {
  EXPECT_EXIT(measure_lateness_on_one_cpu(), ::testing::ExitedWithCode(0), "");
}

#endif

TEST(TimerOptions, AreValidatedAndReported) {
  EXPECT_THROW(tbbx::set_timer_options({.realtime = true, .priority = 0}),
               std::invalid_argument);
  EXPECT_THROW(tbbx::set_timer_options({.realtime = true, .priority = 100}),
               std::invalid_argument);
  const tbbx::timer_options before = tbbx::get_timer_options();
  tbbx::set_timer_options({.realtime = false, .priority = 1});
  auto [ctx, cancel] = tbbx::with_timeout(background(), 1ms);
  ctx.wait();
  EXPECT_TRUE(tbbx::testing::eventually(
      [] { return !tbbx::get_timer_status().realtime; }));
  EXPECT_TRUE(tbbx::get_timer_status().running);
  tbbx::set_timer_options(before);
}

}  // namespace
