// SPDX-License-Identifier: Apache-2.0
// error_group: Go's errgroup on oneTBB. Run tasks side by side, wait for all
// of them, and learn about every error; the first error cancels the rest.
//
// clang-format off
//   tbbx::error_group g(ctx);        // or error_group() for background()
//   g.set_limit(8);                  // optional: at most 8 at a time
//   for (const auto& path : paths) {
//     g.go([&, path](const tbbx::context& ctx) { digest(ctx, path); });
//   }
//   g.wait();                        // rethrows the first error
// clang-format on
//
// Tasks run on the oneTBB arena of the thread that calls go(), and are
// scheduled as oneTBB tasks: go() from inside one of the group's tasks
// pushes onto that worker's own deque (work-stealing), and wait() executes
// other tasks while it waits instead of blocking its thread.
//
// Cancellation. The group's context, get_context(), is derived from the
// parent: it is done when the parent is, on the first error (with that error
// as the cause, unless group_options::cancel_on_error is false), on cancel()
// and when wait() returns. A task that has not started by then is not
// invoked: its callable is destroyed and it is counted in skipped(), and
// wait() reports the cancellation, so a partial run never looks complete. A
// nested `error_group(this_task::get_context())` inside a task is canceled
// with its parent, so an error deep in a tree of groups cancels the whole
// tree and surfaces at the root's wait(). Go cancels a group through a
// parent context (with_cancel); oneTBB users call task_group::cancel():
// error_group::cancel() is that, with an optional cause.
//
// Errors. Every exception a task throws is kept, in order: wait() rethrows
// the one that canceled the group (the first), wait_all() throws a
// multi_error of all of them, errors() lists them. (oneTBB itself keeps only
// the first exception of a group and can drop even that.)
//
// Limits. With a limit, go() blocks while that many tasks are admitted and
// have not returned; while it blocks it runs the group's tasks, so it makes
// progress even where oneTBB has no worker thread, and it does not spin.
// go() at the limit from work done on behalf of one of the group's own
// tasks (the task itself, a task of a group nested in it, the body of a
// tbbx algorithm it runs) runs the callable inline rather than waiting,
// which could deadlock. try_go() never blocks. A limit of 0 admits nothing,
// as Go's SetLimit(0): try_go() returns false and go() throws
// std::logic_error, since it could never proceed. Tasks that wait for each
// other by other means than wait() (a latch, a future) can deadlock when
// the arena has fewer threads than such tasks: oneTBB does not add threads
// for blocked tasks (tbbx's own blocking calls suspend instead).
//
// Lifetime. A group is used once: go()/try_go() after wait() has returned
// throw std::logic_error. The destructor cancels and waits, so no task
// outlives the group; it never throws. Thread-safe: go() may be called from
// any thread and from the group's own tasks; wait() from one thread that is
// not one of the group's tasks.
#ifndef TBBX_PATTERNS_ERROR_GROUP_H_
#define TBBX_PATTERNS_ERROR_GROUP_H_

#include "tbbx/context/detail/config.h"
#if TBBX_CPLUSPLUS >= 202002L  // otherwise config.h's #error is all

#include <concepts>
#include <cstddef>
#include <exception>
#include <type_traits>
#include <utility>
#include <vector>

#include "tbbx/context/context.h"
#include "tbbx/patterns/detail/group_core.h"
#include "tbbx/patterns/group_options.h"

namespace tbbx {

// group_task_callable: what go() accepts, f() or f(const context&).
template <class F>
concept group_task_callable =
    std::move_constructible<std::decay_t<F>> &&
    (std::invocable<std::decay_t<F>&> ||
     std::invocable<std::decay_t<F>&, const context&>);

class error_group {
 public:
  // error_group() is errgroup.WithContext(background()): it cancels on the
  // first error.
  error_group() : error_group(background()) {}
  explicit error_group(const context& parent, group_options options = {})
      : core_(parent, options) {}
  ~error_group() = default;
  error_group(const error_group&) = delete;
  error_group& operator=(const error_group&) = delete;

  // get_context is done on the first error (cause: that error), when the
  // parent is done, or when wait() returns.
  const context& get_context() const noexcept { return core_.get_context(); }

  // go runs f() or f(get_context()) as a task; it blocks while the group is
  // at its limit (see the file comment). If the group is already done, f is
  // not invoked and counts as skipped.
  template <group_task_callable F>
  void go(F&& f) {
    launch(std::forward<F>(f), true, "tbbx::error_group::go");
  }

  // try_go is go() that returns false, without running f, when the group is
  // at its limit. It never blocks.
  template <group_task_callable F>
  bool try_go(F&& f) {
    return launch(std::forward<F>(f), false, "tbbx::error_group::try_go");
  }

  // set_limit caps the tasks admitted and not yet returned; n < 0 removes
  // the cap and 0 admits nothing. Throws std::logic_error while admitted
  // tasks have not returned.
  void set_limit(int n) { core_.set_limit(n); }

  // cancel ends get_context() with errc::canceled and `cause` (a
  // canceled_error if null), as a task's error would: tasks not started are
  // skipped, and wait() then throws the cause. Does nothing if the group is
  // done already. Does not wait.
  void cancel(std::exception_ptr cause = nullptr) noexcept {
    core_.cancel(std::move(cause));
  }

  // wait waits for every task, including those spawned by tasks, then
  // rethrows the first error; else, if any task was skipped, throws
  // get_context().cause(); else returns. Waiting runs other tasks. Calling
  // it again repeats the outcome.
  void wait() { core_.wait(); }

  // wait_all is wait() that throws a multi_error of every error (or
  // std::bad_alloc if memory ran out while recording one: never a shorter
  // list that looks complete).
  void wait_all() { core_.wait_all(); }

  // errors lists every error the tasks threw, in the order they were
  // recorded; complete once wait() has returned.
  std::vector<std::exception_ptr> errors() const { return core_.errors(); }

  // skipped counts the tasks never invoked because the group was done.
  std::size_t skipped() const noexcept { return core_.skipped(); }

 private:
  template <class F>
  bool launch(F&& f, bool blocking, const char* caller) {
    using task_type = detail::group_task<std::decay_t<F>>;
    switch (core_.admit(blocking, caller)) {
      case detail::group_core::admission::refused:
        return false;
      case detail::group_core::admission::skip:
        return true;  // f is destroyed with the caller's argument
      case detail::group_core::admission::run_inline: {
        std::decay_t<F> fn(std::forward<F>(f));
        detail::run_guarded(core_, fn);
        return true;
      }
      case detail::group_core::admission::hand_off: {
        detail::task_allocator alloc{};
        core_.hand_off(
            *alloc.new_object<task_type>(std::forward<F>(f), core_, alloc));
        return true;
      }
      case detail::group_core::admission::spawn:
        break;
    }
    detail::task_allocator alloc{};
    task_type* t;
    try {
      t = alloc.new_object<task_type>(std::forward<F>(f), core_, alloc);
    } catch (...) {
      core_.abandon();
      throw;
    }
    core_.spawn(*t);
    return true;
  }

  detail::group_core core_;
};

}  // namespace tbbx

#endif  // TBBX_CPLUSPLUS >= 202002L

#endif  // TBBX_PATTERNS_ERROR_GROUP_H_
