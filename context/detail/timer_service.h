// SPDX-License-Identifier: Apache-2.0
// timer_service: the one process-wide thread that fires timers. Internal;
// the public side is <tbbx/context/timer.h>, which says how it runs and
// why its real-time priority is safe.
//
// Entries (timer_entry.h) wait in a hierarchical timing wheel
// (timer_wheel.h) guarded by one pi_lock. The thread sleeps on a futex
// until the wheel's next event; schedule() wakes it only for an entry
// earlier than the time it sleeps until, so a stream of far-off timeouts
// that are canceled first costs no wake-up. Due entries are fired on the
// timer thread (timer-safe ones: context deadlines) or handed to the
// deferred runner (deferred.h), with no lock held.
#ifndef TBBX_CONTEXT_DETAIL_TIMER_SERVICE_H_
#define TBBX_CONTEXT_DETAIL_TIMER_SERVICE_H_

#include <atomic>
#include <cstdint>

#include "tbbx/context/detail/pi_lock.h"
#include "tbbx/context/detail/timer_entry.h"
#include "tbbx/context/detail/timer_wheel.h"
#include "tbbx/context/timer.h"

namespace tbbx::detail {

class timer_service {
 public:
  // instance returns the process-wide service (made on first use, which
  // may throw std::bad_alloc); it is never destroyed.
  static timer_service& instance();

  // start starts the timer thread and the deferred runner if they are not
  // running; throws std::system_error if it cannot. Cheap once started.
  void start();

  // schedule queues `e` (not queued) to fire at `when` (at once if `when`
  // has passed). Never throws and never allocates; call start() first
  // (if the threads cannot be started here, the entry waits for them).
  void schedule(timer_entry& e,
                std::chrono::steady_clock::time_point when) noexcept;

  // cancel removes `e` if it is still queued and returns true: `fire` will
  // not run. It returns false if `e` was not queued or has been taken to
  // fire (its `fire` may be running right now).
  bool cancel(timer_entry& e) noexcept;

  void set_options(const timer_options& options);
  timer_options options() const;
  timer_status status();

  timer_service(const timer_service&) = delete;
  timer_service& operator=(const timer_service&) = delete;

 private:
  timer_service() noexcept;
  void run() noexcept;
  void apply_policy() noexcept;  // on the timer thread
  void before_fork() noexcept;
  void after_fork_in_parent() noexcept;
  void after_fork_in_child() noexcept;

  mutable pi_lock lock_;
  timer_wheel wheel_;  // guarded by lock_
  // The tick the thread sleeps until (kNever: no entry; min: awake and
  // working). Guarded by lock_.
  std::int64_t sleeping_until_ = timer_wheel::kNever;
  std::atomic<std::uint32_t> wake_seq_{0};  // the thread sleeps on it
  std::atomic<bool> started_{false};
  // Options, and what the thread applied; written under lock_.
  std::atomic<bool> realtime_wanted_{true};
  std::atomic<int> priority_{1};
  std::atomic<std::uint32_t> policy_epoch_{0};  // bumped by set_options
  std::atomic<bool> realtime_active_{false};
  std::atomic<int> active_priority_{0};
};

}  // namespace tbbx::detail

#endif  // TBBX_CONTEXT_DETAIL_TIMER_SERVICE_H_
