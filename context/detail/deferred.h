// SPDX-License-Identifier: Apache-2.0
// The deferred runner: tbbx's normal-priority helper thread for what the
// timer thread must not do itself. Internal.
//
// The timer thread (timer_service.h) marks contexts done at their
// deadlines; it never runs user code, never calls into oneTBB and never
// frees memory (the allocator's locks are not priority-inheriting). It
// hands those to this thread instead, without taking a lock (the queues
// are lock-free stacks): on_done callbacks and after_func launches of a
// context that ended at its deadline, the destruction of a node whose last
// reference the timer thread dropped, and timers that start oneTBB work
// (hedge delays). The runner is started, with SCHED_OTHER explicitly,
// together with the timer thread, so nothing it starts (oneTBB's workers
// included) inherits a real-time policy.
//
// Work is run in the order it was handed over, one item at a time: a slow
// on_done callback delays the callbacks of later deadlines (not the
// deadlines themselves, which the timer thread keeps marking). Put slow
// work in after_func, which runs as a task.
#ifndef TBBX_CONTEXT_DETAIL_DEFERRED_H_
#define TBBX_CONTEXT_DETAIL_DEFERRED_H_

#include <atomic>
#include <cstdint>

#include "tbbx/context/detail/export.h"
#include "tbbx/context/detail/timer_entry.h"
#include "tbbx/context/detail/tree.h"

namespace tbbx::detail {

class node;

class deferred_runner {
 public:
  static deferred_runner& instance();

  // start starts the thread if it is not running. Throws std::system_error
  // if it cannot.
  void start();

  // Each hands one item over and never blocks. The runner must have been
  // started (the timer service starts it before it fires anything).
  //
  // push_node: the runner calls run_deferred_node(n) (node.cc), which
  // either finishes n's callbacks (n holds a reference for it) or
  // destroys n (its count reached zero), as n's flags say.
  void push_node(node* n) noexcept;
  // push_timer: the runner calls e->fire(e).
  void push_timer(timer_entry* e) noexcept;

  // after_fork_in_child forgets the thread, which does not exist in a
  // fork()ed child; start() makes a new one.
  void after_fork_in_child() noexcept;

  deferred_runner(const deferred_runner&) = delete;
  deferred_runner& operator=(const deferred_runner&) = delete;

 private:
  deferred_runner() noexcept = default;
  void run() noexcept;
  void signal() noexcept;

  std::atomic<tree_node*> nodes_{nullptr};     // a lock-free stack
  std::atomic<timer_entry*> timers_{nullptr};  // a lock-free stack
  std::atomic<std::uint32_t> pushes_{0};       // the runner sleeps on it
  std::atomic<bool> started_{false};
};

// run_deferred_node is the runner's half of push_node (see node.cc).
TBBX_API void run_deferred_node(node* n) noexcept;

}  // namespace tbbx::detail

#endif  // TBBX_CONTEXT_DETAIL_DEFERRED_H_
