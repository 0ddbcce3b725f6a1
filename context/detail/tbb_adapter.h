// SPDX-License-Identifier: Apache-2.0
// tbb_adapter: the one file (with its .cc) that names oneTBB's private task
// layer (tbb::detail::d1 / r1). Internal.
//
// tbbx schedules its tasks the way tbb::task_group does, below the public
// API: a task object it owns, a wait counter, spawn onto the current
// thread's deque, enqueue into an arena, and a wait that runs other tasks
// meanwhile. That costs no std::function and no task_group_context per
// group. Porting tbbx to a new oneTBB release means porting this file
// (tested against 2021.8 and the newest release; see the README).
//
// It also holds the one mechanism for "spawn or wait in an arena", and the
// current-arena bookkeeping behind it: tbbx records the arena it entered
// in a thread-local word, and before trusting the record asks oneTBB which
// arena the thread is in (a plain tbb::task_arena::execute into another
// arena inside a tbbx scope must not be mistaken for the recorded one).
#ifndef TBBX_CONTEXT_DETAIL_TBB_ADAPTER_H_
#define TBBX_CONTEXT_DETAIL_TBB_ADAPTER_H_

#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>

#include <cstdint>
#include <utility>

#include "tbbx/context/detail/export.h"

namespace tbbx::detail {

// The task layer's types, under tbbx's names.
using tbb_task = tbb::detail::d1::task;
using task_execution = tbb::detail::d1::execution_data;
using task_allocator = tbb::detail::d1::small_object_allocator;
// wait_counter counts outstanding work; waiting for zero runs tasks.
using wait_counter = tbb::detail::d1::wait_context;

// scheduling_context is the oneTBB context every tbbx task runs under:
// isolated and never canceled, so one is shared by all; tbbx cancels work
// through its own contexts instead.
TBBX_API tbb::task_group_context& scheduling_context() noexcept;

// The tbbx arena whose work runs on this thread (see the file comment).
// Set by arena_scope; a hint, checked by in_arena.
// Defined in a .cc, not inline here: in a shared build an inline
// thread_local would be one copy in libtbbx.so and another in the program.
TBBX_API extern constinit thread_local const tbb::task_arena* current_arena;

// runs_in asks oneTBB whether this thread is in `a` now (about 20 ns).
TBBX_API bool runs_in(const tbb::task_arena& a) noexcept;

// in_arena tells whether this thread runs inside `a` right now.
inline bool in_arena(const tbb::task_arena* a) noexcept {
  return current_arena == a && runs_in(*a);
}

// check_reentry throws std::logic_error when entering `a` now would wait
// forever: this thread entered `a` further out (the arena_scope record
// says so), now runs in another arena (a plain task_arena::execute), and
// `a` has one slot, which this very thread holds. Since oneTBB 2021.11 an
// arena(1) with no slot reserved for callers has exactly one slot (older
// releases gave it two, and re-entering worked). `what` names the caller.
// Cheap to call on every entry: it does nothing unless the record is `a`.
TBBX_API void check_reentry_slow(const tbb::task_arena& a, const char* what);
inline void check_reentry(const tbb::task_arena& a, const char* what) {
  if (current_arena == &a) check_reentry_slow(a, what);
}

// arena_scope records `a` as this thread's arena (a null `a` leaves the
// record as it is) until it ends.
class arena_scope {
 public:
  explicit arena_scope(const tbb::task_arena* a) noexcept
      : saved_(current_arena) {
    if (a != nullptr) current_arena = a;
  }
  ~arena_scope() { current_arena = saved_; }
  arena_scope(const arena_scope&) = delete;
  arena_scope& operator=(const arena_scope&) = delete;

 private:
  const tbb::task_arena* saved_;
};

// spawn_in runs `t` in arena `a` (null: the caller's arena): pushed onto
// this thread's deque when it runs there (work-stealing, LIFO), enqueued
// into `a` otherwise. Never blocks.
inline void spawn_in(tbb::task_arena* a, tbb_task& t,
                     tbb::task_group_context& ctx) {
  if (a == nullptr || in_arena(a)) {
    tbb::detail::d1::spawn(t, ctx);
  } else {
    tbb::detail::r1::enqueue(t, ctx, a);
  }
}

// enqueue_in queues `t` in arena `a` (FIFO) from any thread.
inline void enqueue_in(tbb::task_arena& a, tbb_task& t,
                       tbb::task_group_context& ctx) {
  tbb::detail::r1::enqueue(t, ctx, &a);
}

// wait_in waits until `w` reaches zero, running tasks of arena `a` (null:
// the caller's) meanwhile. From outside `a` it joins `a` if a slot is
// free, else a worker of `a` runs the wait while this thread waits for it.
inline void wait_in(tbb::task_arena* a, wait_counter& w,
                    tbb::task_group_context& ctx) {
  if (a == nullptr || in_arena(a)) {
    tbb::detail::d1::wait(w, ctx);
    return;
  }
  check_reentry(*a, "waiting for tasks of a tbbx arena");
  a->execute([&] {
    arena_scope scope(a);
    tbb::detail::d1::wait(w, ctx);
  });
}

// execute_in runs f() inside arena `a` (null or current: here and now).
template <class F>
decltype(auto) execute_in(tbb::task_arena* a, F&& f) {
  if (a == nullptr || in_arena(a)) return std::forward<F>(f)();
  check_reentry(*a, "running work in a tbbx arena");
  return a->execute([&]() -> decltype(auto) {
    arena_scope scope(a);
    return std::forward<F>(f)();
  });
}

}  // namespace tbbx::detail

#endif  // TBBX_CONTEXT_DETAIL_TBB_ADAPTER_H_
