// SPDX-License-Identifier: Apache-2.0
#include "tbbx/context/detail/timer_service.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>

#include "tbbx/context/detail/chaos.h"
#include "tbbx/context/detail/deferred.h"
#include "tbbx/context/detail/futex.h"
#include "tbbx/context/detail/node.h"
#include "tbbx/context/detail/service_thread.h"
#include "tbbx/context/detail/thread_role.h"

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>
#endif

namespace tbbx::detail {

namespace {

using clock = std::chrono::steady_clock;

std::mutex start_mu;  // serializes start(); never taken by the timer thread

// environment_realtime is TBBX_TIMER_REALTIME: -1 unset, else 0 or 1.
int environment_realtime() noexcept {
  const char* value = std::getenv("TBBX_TIMER_REALTIME");
  if (value == nullptr || *value == '\0') return -1;
  return std::strcmp(value, "0") == 0 ? 0 : 1;
}

// The wheel's time: the last tick that has begun (see elapsed_tick).
std::int64_t now_tick() noexcept {
  return timer_wheel::elapsed_tick(clock::now());
}

}  // namespace

timer_service& timer_service::instance() {
  // Leaked on purpose, with its thread: contexts may schedule and cancel
  // timers from static destructors and from detached threads after exit
  // handlers have run.
  static timer_service* const service = [] {
    auto* s = new timer_service();
#if defined(__linux__)
    pthread_atfork([] { instance().before_fork(); },
                   [] { instance().after_fork_in_parent(); },
                   [] { instance().after_fork_in_child(); });
#endif
    return s;
  }();
  return *service;
}

timer_service::timer_service() noexcept : wheel_(now_tick()) {}

void timer_service::start() {
  if (started_.load(std::memory_order_acquire)) return;
  std::lock_guard lock(start_mu);
  if (started_.load(std::memory_order_relaxed)) return;
  deferred_runner::instance().start();
  start_service_thread(
      "tbbx-timer", /*realtime=*/true,
      [](void* self) { static_cast<timer_service*>(self)->run(); }, this);
  started_.store(true, std::memory_order_release);
}

void timer_service::schedule(timer_entry& e, clock::time_point when) noexcept {
  TBBX_CHAOS_POINT();
  if (!started_.load(std::memory_order_acquire)) {
    try {
      start();
    } catch (const std::exception& x) {
      // Only reachable where start() was not called first (a fork()ed
      // child that cannot make threads): say so rather than hang quietly.
      std::fprintf(stderr, "tbbx: timer not running, a timer will wait: %s\n",
                   x.what());
    }
  }
  const std::int64_t tick = timer_wheel::to_tick(when);
  bool wake = false;
  {
    std::lock_guard lock(lock_);
    if (wheel_.empty() && sleeping_until_ == timer_wheel::kNever) {
      // After a long idle time, let the new entry land in the right level.
      wheel_.reset_time(now_tick());
    }
    const std::int64_t event = wheel_.insert(&e, tick);
    if (event < sleeping_until_) {
      sleeping_until_ = event;
      wake_seq_.fetch_add(1, std::memory_order_relaxed);
      wake = true;
    }
  }
  if (wake) futex_wake(wake_seq_);
}

bool timer_service::cancel(timer_entry& e) noexcept {
  TBBX_CHAOS_POINT();
  // Removing the earliest entry only makes the thread wake early and sleep
  // again, so there is no need to wake it.
  std::lock_guard lock(lock_);
  return wheel_.remove(&e);
}

void timer_service::run() noexcept {
  current_thread_role = thread_role::timer;
#if defined(__linux__)
  // The default 50 us slack would round every sub-millisecond timer.
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
#endif
  std::uint32_t applied_epoch = policy_epoch_.load(std::memory_order_acquire);
  apply_policy();
  lock_.lock();
  for (;;) {
    const std::uint32_t epoch = policy_epoch_.load(std::memory_order_acquire);
    if (epoch != applied_epoch) {
      applied_epoch = epoch;
      lock_.unlock();
      apply_policy();
      lock_.lock();
    }
    timer_wheel::entry_list due;
    wheel_.advance_to(clock::now(), due);
    if (!due.empty()) {
      sleeping_until_ = std::numeric_limits<std::int64_t>::min();  // awake
      lock_.unlock();
      while (timer_entry* e = due.pop_front()) {
        if (e->runs == timer_entry::where::deferred) {
          deferred_runner::instance().push_timer(e);
        } else {
          e->fire(e);  // may free e
        }
      }
      lock_.lock();
      continue;
    }
    const std::int64_t next = wheel_.next_event();
    sleeping_until_ = next;
    const std::uint32_t seen = wake_seq_.load(std::memory_order_relaxed);
    lock_.unlock();
    futex_wait(wake_seq_, seen,
               next == timer_wheel::kNever ? clock::time_point::max()
                                           : timer_wheel::from_tick(next));
    lock_.lock();
  }
}

void timer_service::apply_policy() noexcept {
#if defined(__linux__)
  const int env = environment_realtime();
  const bool want =
      env >= 0 ? env == 1 : realtime_wanted_.load(std::memory_order_relaxed);
  sched_param param{};
  bool realtime = false;
  if (want) {
    param.sched_priority = priority_.load(std::memory_order_relaxed);
    realtime = pthread_setschedparam(pthread_self(), SCHED_FIFO, &param) == 0;
  }
  if (!realtime) {
    param.sched_priority = 0;
    pthread_setschedparam(pthread_self(), SCHED_OTHER, &param);
  }
  active_priority_.store(realtime ? param.sched_priority : 0,
                         std::memory_order_relaxed);
  realtime_active_.store(realtime, std::memory_order_release);
#endif
}

void timer_service::set_options(const timer_options& options) {
  if (options.priority < 1 || options.priority > 99) {
    throw std::invalid_argument(
        "tbbx::set_timer_options: priority must be in 1..99 (SCHED_FIFO), "
        "got " +
        std::to_string(options.priority));
  }
  {
    std::lock_guard lock(lock_);
    realtime_wanted_.store(options.realtime, std::memory_order_relaxed);
    priority_.store(options.priority, std::memory_order_relaxed);
    policy_epoch_.fetch_add(1, std::memory_order_release);
    wake_seq_.fetch_add(1, std::memory_order_relaxed);
  }
  futex_wake(wake_seq_);
}

timer_options timer_service::options() const {
  return {realtime_wanted_.load(std::memory_order_relaxed),
          priority_.load(std::memory_order_relaxed)};
}

timer_status timer_service::status() {
  timer_status s;
  s.running = started_.load(std::memory_order_acquire);
  s.realtime = realtime_active_.load(std::memory_order_acquire);
  s.priority = active_priority_.load(std::memory_order_relaxed);
  std::lock_guard lock(lock_);
  s.pending = wheel_.size();
  return s;
}

// fork(): the wheel must be consistent in the child, so the forking thread
// holds the lock across fork(). The child has no timer or deferred thread;
// it restarts them now if timers are pending (a child that only polls
// done() must still see its deadlines), else at the next schedule().
void timer_service::before_fork() noexcept { lock_.lock(); }

void timer_service::after_fork_in_parent() noexcept { lock_.unlock(); }

void timer_service::after_fork_in_child() noexcept {
  lock_.reset_after_fork();  // held by our own thread, under another id
  // A deadline whose context another thread was canceling at the fork
  // has its lock held by a thread that does not exist here: firing it
  // would wait forever (or fail) on that lock. Such contexts are
  // unusable in the child, as documented; the others' deadlines fire.
  wheel_.drop_if(deadline_lock_orphaned);
  const bool pending = !wheel_.empty();
  started_.store(false, std::memory_order_relaxed);
  realtime_active_.store(false, std::memory_order_relaxed);
  sleeping_until_ = timer_wheel::kNever;
  deferred_runner::instance().after_fork_in_child();
  if (!pending) return;
  try {
    start();
  } catch (const std::exception& x) {
    std::fprintf(stderr,
                 "tbbx: cannot restart the timer in a fork()ed child; its "
                 "deadlines will not fire: %s\n",
                 x.what());
  }
}

}  // namespace tbbx::detail

namespace tbbx {

void set_timer_options(const timer_options& options) {
  detail::timer_service::instance().set_options(options);
}

timer_options get_timer_options() {
  return detail::timer_service::instance().options();
}

timer_status get_timer_status() {
  return detail::timer_service::instance().status();
}

}  // namespace tbbx
