// SPDX-License-Identifier: Apache-2.0
// The machinery behind tbbx::error_group. Internal: use
// <tbbx/patterns/error_group.h>.
//
// Scheduling. A group spawns its tasks straight onto oneTBB's scheduler
// (tbb_adapter.h): a task object per go(), a count of pending
// tasks, spawn onto the current thread's deque, and a wait that runs other
// tasks. All groups schedule under one process-wide oneTBB context that is
// never canceled, so a group costs oneTBB no context of its own;
// cancellation is tbbx's: every task checks `stopped()` (one load) before it
// runs, and one that finds the group done is skipped and counted.
//
// Cancellation. A group is a node of the context tree (tree.h): it links
// under its parent (a context's node, or the group whose context it was
// given), so canceling the parent marks the group and everything below it
// with the same algorithm, locks and rules as contexts. Its own handle,
// get_context(), is lazy: tasks, this_task::get_context() and nested
// groups read the group directly, and only a copy of the handle (or a
// context derived from it) makes its node, the shadow node, a tree child
// of the group canceled with it. So a tree of nested groups, as in a
// recursive divide and conquer, allocates nothing for cancellation, and a
// copy made at any time agrees with the group on done(), err() and cause().
//
// Lifetimes. A nested group normally dies inside the task of its parent
// that created it; if it outlives its parent (kept on the heap), the
// parent's last cancel unlinks it and gives it a reference on the values
// node it borrowed. So a group that borrows one stays linked under its
// parent until it is destroyed. A root group (which holds its parent
// context) and a group whose values node is background()'s (which needs
// no reference) owe their parent nothing once they have ended: they leave
// the parent's list in the same hold of their lock that ends them at
// wait() (tree::cancel_and_leave), which saves a nested group two lock
// round trips. `pins_` counts the threads working on a group from outside
// (a canceling ancestor, a child leaving, an ancestry walk); the
// destructor waits for them.
#ifndef TBBX_PATTERNS_DETAIL_GROUP_CORE_H_
#define TBBX_PATTERNS_DETAIL_GROUP_CORE_H_

#include <atomic>
#include <concepts>
#include <cstddef>
#include <exception>
#include <mutex>
#include <utility>
#include <vector>

#include "tbbx/context/context.h"
#include "tbbx/context/detail/ambient.h"
#include "tbbx/context/detail/export.h"
#include "tbbx/context/detail/intrusive_list.h"
#include "tbbx/context/detail/node.h"
#include "tbbx/context/detail/tbb_adapter.h"
#include "tbbx/context/detail/tree.h"
#include "tbbx/context/error_collector.h"
#include "tbbx/patterns/group_options.h"
#include "tbbx/scheduler/arena.h"

namespace tbbx::detail {

class TBBX_API group_core final : public tree_node {
 public:
  enum class admission { spawn, hand_off, run_inline, skip, refused };

  group_core(const context& parent, group_options options);
  ~group_core() override;

  // stopped is true once the group is done (by its parent, its first
  // error, cancel() or wait()): a task that has not started then is
  // skipped.
  bool stopped() const noexcept { return done(); }

  const context& get_context() const noexcept { return slot_; }

  node* materialize() override;
  const node* values_node() const noexcept override { return values_parent_; }
  const node* existing_node() const noexcept override {
    return shadow_.load(std::memory_order_acquire);
  }

  // admit decides how go()/try_go() runs one callable: spawn it (a slot is
  // taken and the wait counter raised), hand it off (blocking at the limit:
  // make the task and pass it to hand_off), run it inline (at the limit
  // inside work done on behalf of one of the group's tasks), skip it (the
  // group is stopped), or refuse it (try_go at the limit).
  admission admit(bool blocking, const char* caller);
  // hand_off blocks until `t` is admitted, running the group's tasks
  // meanwhile. The task that frees a slot spawns `t` itself, on its own
  // thread, so the slot never sits idle while the blocked caller wakes up.
  void hand_off(tbb_task& t);
  // abandon undoes a `spawn` admission whose task could not be created.
  void abandon() noexcept { task_finished(); }
  // spawn pushes onto this thread's deque when it runs in the group's
  // arena (work-stealing), and enqueues into that arena otherwise.
  void spawn(tbb_task& t) noexcept { spawn_in(arena_, t, sched_); }
  // native_arena is the arena the tasks run in (null: the caller's).
  const tbb::task_arena* native_arena() const noexcept { return arena_; }
  // task_finished releases the task's slot and its wait count; the group
  // may be destroyed as soon as it returns.
  void task_finished() noexcept;
  void record_error(std::exception_ptr e) noexcept;
  void record_skip() noexcept {
    skipped_.fetch_add(1, std::memory_order_relaxed);
  }

  void set_limit(int n);
  void cancel(std::exception_ptr cause) noexcept;
  void wait();
  void wait_all();
  std::vector<std::exception_ptr> errors() const { return errors_.errors(); }
  std::size_t skipped() const noexcept {
    return skipped_.load(std::memory_order_acquire);
  }

 private:
  struct slot_waiter {
    explicit slot_waiter(tbb_task& t) noexcept : task(&t) {}
    tbb_task* task;  // spawned by the slot's releaser
    wait_counter released{1};
    list_hook<slot_waiter> hook;  // guarded by slot_mu_
  };

  // Tree hooks (see tree.h).
  bool try_pin() noexcept override {
    pins_.fetch_add(1, std::memory_order_acquire);
    return true;
  }
  void unpin() noexcept override;
  void forget_tree_parent_locked() noexcept override;
  void leave_tree_parent() noexcept override {}  // only when destroyed
  tree_node* walk_parent_locked() noexcept override { return tree_parent_; }

  // take_values_ref makes values_parent_ safe for the group to outlive
  // its parent group with; with lock_ held or before publication.
  void take_values_ref() noexcept;
  void wait_tasks(const char* caller);
  void end_wait() noexcept;  // wait() is over: the group ends (Go's Wait)
  bool try_take_slot(int limit) noexcept;
  bool runs_on_behalf_of_this() noexcept;
  void throw_if_skipped() const;

  // Immutable after construction.
  const context slot_;  // the lazy handle get_context() returns
  const bool cancel_on_error_;
  tbb::task_arena* const arena_;    // null: the caller's current arena
  tbb::task_group_context& sched_;  // scheduling_context(), looked up once

  // A root group's parent context node, which it holds a reference on
  // (null for a nested group).
  node* const root_parent_;
  // The tree parent while linked (a node or a group), and the node where
  // values and the deadline are looked up: for a root group, its parent
  // or the nearest node above that is not a plain cancel node (alive as
  // long as root_parent_); for a nested group, borrowed from its parent
  // group, or owned (a reference) once orphaned. Guarded by lock_.
  tree_node* tree_parent_ = nullptr;
  node* values_parent_;
  bool owns_values_ref_ = false;
  // The group may leave its tree parent as it ends at wait(), rather than
  // when destroyed, when the parent owes it nothing afterwards: it is a
  // root group, or its values node is background()'s, which needs no
  // reference. A borrowed one is kept valid by staying linked
  // (forget_tree_parent_locked).
  const bool leaves_at_end_;
  std::atomic<node*> shadow_{nullptr};  // set once; one reference
  std::atomic<int> pins_{0};

  // Tasks admitted and not finished, and the oneTBB wait counter that
  // wait() runs tasks on: held (1) while active_ is not zero, so that a
  // task costs one atomic add and one subtract, not two of each.
  std::atomic<int> active_{0};
  wait_counter pending_{0};
  std::atomic<int> limit_;  // < 0 unlimited; set while idle
  std::mutex slot_mu_;
  intrusive_list<slot_waiter, &slot_waiter::hook> slot_waiters_;  // FIFO

  error_collector errors_;
  std::atomic<bool> has_error_{false};
  std::atomic<bool> error_lost_{false};  // recording one ran out of memory
  std::exception_ptr first_error_;       // written by has_error_'s winner
  std::atomic<std::size_t> skipped_{0};
  std::atomic<bool> waited_{false};  // wait() has returned once
};

// run_guarded runs one callable of the group: skipped once the group is
// stopped, with this_task::get_context() being the group's context, and
// any exception recorded instead of escaping to oneTBB (which would keep
// only the first and drop the rest).
template <class F>
void run_guarded(group_core& core, F& f) noexcept {
  if (core.stopped()) {
    core.record_skip();
    return;
  }
  ambient_scope scope(core.get_context());
  try {
    if constexpr (std::invocable<F&, const context&>) {
      f(core.get_context());
    } else {
      f();
    }
  } catch (...) {
    core.record_error(std::current_exception());
  }
}

template <class F>
class group_task final : public tbb_task {
 public:
  template <class G>
  group_task(G&& f, group_core& core, task_allocator& alloc)
      : f_(std::forward<G>(f)), core_(core), alloc_(alloc) {}

  tbb_task* execute(task_execution& ed) override {
    // The scope covers finalize too, so that a task it hands a slot to is
    // spawned locally.
    arena_scope scope(core_.native_arena());
    run_guarded(core_, f_);
    finalize(ed);
    return nullptr;
  }

  // oneTBB calls cancel() instead of execute() only for a canceled context;
  // the scheduling context never is, but the contract is honoured anyway.
  tbb_task* cancel(task_execution& ed) override {
    core_.record_skip();
    finalize(ed);
    return nullptr;
  }

 private:
  void finalize(const task_execution& ed) noexcept {
    group_core& core = core_;
    auto alloc = alloc_;
    this->~group_task();  // the callable dies before wait() can return
    alloc.deallocate(this, ed);
    core.task_finished();
  }

  F f_;
  group_core& core_;
  task_allocator alloc_;
};

}  // namespace tbbx::detail

#endif  // TBBX_PATTERNS_DETAIL_GROUP_CORE_H_
