// The machinery behind tbbx::error_group. Internal: use
// <tbbx/patterns/error_group.h>.
//
// Scheduling. A group spawns its tasks straight onto oneTBB's scheduler
// through the d1 task layer that tbb::task_group is built on: a
// small_object_allocator task, a wait_context counting pending tasks,
// spawn() onto the current thread's deque, and wait() that runs other tasks
// while it waits. All groups schedule under one process-wide oneTBB context
// that is never canceled, so a group costs oneTBB no context of its own;
// cancellation is tbbx's: every task checks `stopped()` (one load) before it
// runs, and one that finds the group done is skipped and counted.
//
// Cancellation tree. A group's context is a lazy_source: until a handle
// needs a real node, none exists. Groups nest by context: a group whose
// parent is another group's context links into that group's child list, and
// a cancel marks the whole subtree through those links (a work list of
// pinned groups, bounded stack). A root group, whose parent is an ordinary
// context, registers one callback on the parent's node that cancels its
// subtree. So a tree of nested groups, as in a recursive divide and conquer,
// allocates nothing per group for cancellation.
//
// Lifetimes. A nested group normally dies inside the task of its parent
// that created it. If it outlives its parent (moved out of the task), the
// parent detaches it on destruction and hands it its own node, so nothing
// dangles. `pins_` counts the threads using a group from outside (a
// canceling ancestor, a child leaving); the destructor waits for them.
//
// Lock order: a group's tree_lock_ is never held while another group's is
// taken, and never across user code.
#ifndef TBBX_PATTERNS_DETAIL_GROUP_CORE_H_
#define TBBX_PATTERNS_DETAIL_GROUP_CORE_H_

#include <oneapi/tbb/task_group.h>

#include <atomic>
#include <concepts>
#include <cstddef>
#include <exception>
#include <mutex>
#include <utility>
#include <vector>

#include "tbbx/context/context.h"
#include "tbbx/context/detail/ambient.h"
#include "tbbx/context/detail/lazy_source.h"
#include "tbbx/context/detail/node.h"
#include "tbbx/context/detail/spin_lock.h"
#include "tbbx/patterns/error_collector.h"
#include "tbbx/scheduler/arena.h"
#include "tbbx/scheduler/detail/default_arena.h"

namespace tbbx {

// group_options configures an error_group. The defaults are Go's
// errgroup.WithContext: no limit, the first error cancels the group, and
// tasks run on the arena of the thread that calls go().
struct group_options {
  int limit = -1;                // < 0: no limit; 0 is rejected
  bool cancel_on_error = true;   // false: collect every error, cancel nothing
  tbbx::arena* arena = nullptr;  // run the tasks in this arena instead
};

namespace detail {

namespace d1 = tbb::detail::d1;

class group_core final : public context_source, public lazy_source {
 public:
  enum class admission { spawn, hand_off, run_inline, skip, refused };

  group_core(const context& parent, group_options options);
  ~group_core();
  group_core(const group_core&) = delete;
  group_core& operator=(const group_core&) = delete;

  // stopped is true once the group is done (by its parent, its first
  // error, or wait()): a task that has not started then is skipped.
  bool stopped() const noexcept { return done(); }

  const context& get_context() const noexcept { return slot_; }
  const context& ambient_context() const noexcept override { return slot_; }
  node* materialize() const noexcept override;
  const node* values_node() const noexcept override { return values_node_; }

  // admit decides how go()/try_go() runs one callable: spawn it (a slot is
  // taken and the wait counter raised), hand it off (blocking at the limit:
  // make the task and pass it to hand_off), run it inline (at the limit
  // inside one of the group's own tasks), skip it (the group is stopped),
  // or refuse it (try_go at the limit).
  admission admit(bool blocking, const char* caller);
  // hand_off blocks until `t` is admitted, running the group's tasks
  // meanwhile. The task that frees a slot spawns `t` itself, on its own
  // thread, so the slot never sits idle while the blocked caller wakes up.
  void hand_off(d1::task& t);
  // abandon undoes a `spawn` admission whose task could not be created.
  void abandon() noexcept { task_finished(); }
  // spawn pushes onto this thread's deque when it runs in the group's
  // arena (work-stealing), and enqueues into that arena otherwise.
  void spawn(d1::task& t) noexcept;
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
  void wait();
  void wait_all();
  std::vector<std::exception_ptr> errors() const { return errors_.errors(); }
  std::size_t skipped() const noexcept {
    return skipped_.load(std::memory_order_acquire);
  }

 private:
  friend struct group_tree;

  struct slot_waiter {
    explicit slot_waiter(d1::task& t) noexcept : task(&t) {}
    d1::task* task;  // spawned by the slot's releaser
    d1::wait_context released{1};
    slot_waiter* next = nullptr;  // guarded by slot_mu_
    bool queued = false;          // set under slot_mu_ by its own thread
  };
  struct parent_link : callback_node {
    explicit parent_link(group_core* g) noexcept;
    group_core* group;
  };

  void wait_tasks(const char* caller);
  // wait_in_arena waits for `w`, running the arena's tasks meanwhile.
  void wait_in_arena(d1::wait_context& w);
  void finish() noexcept;
  bool try_take_slot(int limit) noexcept;
  void throw_if_skipped() const;

  // Immutable after construction.
  context parent_;                // a root group's parent (holds its node)
  node* const root_parent_node_;  // a root group's parent node, else null
  const node* values_node_;       // see lazy_source::values_node
  const context slot_;            // the lazy handle get_context() returns
  const bool cancel_on_error_;
  tbb::task_arena* const arena_;    // null: the caller's current arena
  tbb::task_group_context& sched_;  // scheduling_context(), looked up once

  // The cancellation tree (see the file comment).
  mutable spin_lock tree_lock_;
  group_core* parent_group_ = nullptr;    // guarded by tree_lock_
  node* detached_parent_node_ = nullptr;  // guarded by tree_lock_; one ref
  group_core* first_child_ = nullptr;     // guarded by tree_lock_
  group_core* prev_sibling_ = nullptr;    // guarded by parent's tree_lock_
  group_core* next_sibling_ = nullptr;    // guarded by parent's tree_lock_
  bool linked_ = false;                   // guarded by parent's tree_lock_
  std::atomic<int> pins_{0};
  group_core* work_next_ = nullptr;  // owned by the one thread marking it

  d1::wait_context pending_{0};  // tasks admitted and not finished
  std::atomic<int> active_{0};   // the same count, readable
  std::atomic<int> limit_;       // < 0 unlimited; set while idle
  std::mutex slot_mu_;
  slot_waiter* first_waiter_ = nullptr;  // FIFO; guarded by slot_mu_
  slot_waiter* last_waiter_ = nullptr;   // guarded by slot_mu_

  error_collector errors_;
  std::atomic<bool> has_error_{false};
  std::exception_ptr first_error_;  // written by has_error_'s winner
  std::atomic<std::size_t> skipped_{0};
  std::atomic<bool> waited_{false};  // wait() has returned once
  parent_link parent_link_{this};
  bool parent_link_registered_ = false;
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
  ambient_scope scope(core);
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
class group_task final : public d1::task {
 public:
  template <class G>
  group_task(G&& f, group_core& core, d1::small_object_allocator& alloc)
      : f_(std::forward<G>(f)), core_(core), alloc_(alloc) {}

  d1::task* execute(d1::execution_data& ed) override {
    // The scope covers finalize too, so that a task it hands a slot to is
    // spawned locally.
    arena_scope scope(core_.native_arena());
    run_guarded(core_, f_);
    finalize(ed);
    return nullptr;
  }

  // oneTBB calls cancel() instead of execute() only for a canceled context;
  // the scheduling context never is, but the contract is honoured anyway.
  d1::task* cancel(d1::execution_data& ed) override {
    core_.record_skip();
    finalize(ed);
    return nullptr;
  }

 private:
  void finalize(const d1::execution_data& ed) noexcept {
    group_core& core = core_;
    auto alloc = alloc_;
    this->~group_task();  // the callable dies before wait() can return
    alloc.deallocate(this, ed);
    core.task_finished();
  }

  F f_;
  group_core& core_;
  d1::small_object_allocator alloc_;
};

}  // namespace detail
}  // namespace tbbx

#endif  // TBBX_PATTERNS_DETAIL_GROUP_CORE_H_
