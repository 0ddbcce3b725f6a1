// SPDX-License-Identifier: Apache-2.0
// The timer service's settings: how the thread that fires deadlines runs.
//
// clang-format off
//   tbbx::set_timer_options({.realtime = false});   // stay at normal priority
//   auto s = tbbx::get_timer_status();              // s.realtime: in effect?
// clang-format on
//
// Every deadline, timeout and hedge delay in tbbx is served by one
// process-wide timer thread that sleeps until the next one is due: nobody
// polls. With every core busy, a normal-priority thread that wakes at a
// deadline can wait milliseconds for a core; so by default the timer thread
// asks for SCHED_FIFO priority 1 (the lowest real-time level) where the
// system allows it (root, or CAP_SYS_NICE, or an RLIMIT_RTPRIO), and
// shrinks its timer slack to 1 ns. Where that is not allowed it runs at
// normal priority: correct, only later under load.
//
// Why real-time priority is safe here (the rules the timer thread keeps):
// it never spins and every lock it takes lends it priority inheritance
// (pi_lock), so a preempted normal-priority holder runs at once; it never
// runs user code, never calls into oneTBB and never frees memory: on_done
// callbacks and after_func launches of contexts that end at a deadline,
// hedge delays and the freeing of nodes go to tbbx's deferred runner, a
// normal-priority thread; and nothing it starts inherits its policy. Its
// own work per deadline is marking the context tree done.
//
// The environment variable TBBX_TIMER_REALTIME (0 or 1) overrides
// `realtime`, for deployments that must not change the code.
//
// The timer and deferred threads start at the first deadline and live
// until the process ends; they are never joined, so static destructors may
// create and wait on deadlines, and exit() may be called from a callback.
// After fork(), the child restarts them when it has pending deadlines (and
// otherwise at its first new one). Contexts another thread was canceling
// at the moment of fork() are unusable in the child, as with any lock:
// their deadlines are dropped there (firing them would wait on a lock held
// by a thread the child does not have), as are deadlines the timer thread
// was firing at that moment.
#ifndef TBBX_CONTEXT_TIMER_H_
#define TBBX_CONTEXT_TIMER_H_

#include "tbbx/context/detail/config.h"
#if TBBX_CPLUSPLUS >= 202002L  // otherwise config.h's #error is all

#include <cstddef>

namespace tbbx {

struct timer_options {
  bool realtime = true;  // ask for SCHED_FIFO where the system allows it
  int priority = 1;      // its SCHED_FIFO priority, 1..99
};

// set_timer_options applies `options` at once (to the running thread, or
// when it starts). Throws std::invalid_argument for a priority outside
// 1..99. Thread-safe.
TBBX_API void set_timer_options(const timer_options& options);

// get_timer_options returns the options last set (before the environment
// override).
TBBX_API timer_options get_timer_options();

struct timer_status {
  bool running = false;     // the thread has started
  bool realtime = false;    // it runs at SCHED_FIFO now
  int priority = 0;         // its SCHED_FIFO priority, or 0
  std::size_t pending = 0;  // timers queued
};

// get_timer_status reports what is in effect.
TBBX_API timer_status get_timer_status();

}  // namespace tbbx

#endif  // TBBX_CPLUSPLUS >= 202002L

#endif  // TBBX_CONTEXT_TIMER_H_
