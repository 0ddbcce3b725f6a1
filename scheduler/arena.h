// SPDX-License-Identifier: Apache-2.0
// tbbx::arena: a named work-stealing arena that tbbx's patterns run on.
//
// clang-format off
//   tbbx::arena io({.name = "io", .max_concurrency = 4});
//   tbbx::error_group g(ctx, {.arena = &io});      // tasks run in `io`
//   auto v = tbbx::hedge(ctx, {.delay = 1ms, .arena = &io}, lookup);
//   graph.run(ctx, io);
// clang-format on
//
// An arena is a tbb::task_arena with two differences:
//  - it reserves no slot for external threads, so a caller blocked in a
//    tbbx call (waiting for a hedge, say) does not take a thread's worth of
//    parallelism with it: max_concurrency workers run its tasks;
//  - work in it is canceled by tbbx contexts, which do not depend on
//    oneTBB's context tree. task_arena::execute cuts that tree (work inside
//    does not see an outer task_group_context's cancellation), but a tbbx
//    context reaches every task it was given, in any arena.
//
// default_arena() is tbbx's own: one worker per hardware thread. It is what
// after_func and hedge use when told nothing else; error_group and the task
// graph run on the caller's current arena unless given one. NUMA and core
// type constraints are passed to oneTBB where it supports them
// (tbb::info::numa_nodes() / core_types() list the valid ids; oneTBB needs
// its tbbbind library for real NUMA ids). Bad options throw
// std::invalid_argument.
//
// An arena must outlive the work put in it. Thread-safe.
#ifndef TBBX_SCHEDULER_ARENA_H_
#define TBBX_SCHEDULER_ARENA_H_

#include "tbbx/context/detail/config.h"
#if TBBX_CPLUSPLUS >= 202002L  // otherwise config.h's #error is all

#include <oneapi/tbb/task_arena.h>

#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "tbbx/context/detail/config.h"
#include "tbbx/context/detail/tbb_adapter.h"

namespace tbbx {

struct arena_options {
  std::string name = "tbbx";
  int max_concurrency = -1;       // -1: every hardware thread allowed
  int numa_node = -1;             // an id from tbb::info::numa_nodes(), or -1
  int core_type = -1;             // an id from tbb::info::core_types(), or -1
  int max_threads_per_core = -1;  // -1: no limit
};

class TBBX_API arena {
 public:
  explicit arena(arena_options options = {});
  ~arena();
  arena(const arena&) = delete;
  arena& operator=(const arena&) = delete;

  // default_arena is tbbx's own arena; it lives as long as the process.
  static arena& default_arena();

  const std::string& name() const noexcept { return name_; }
  // max_concurrency is the number of threads that run its tasks at once.
  int max_concurrency() const;
  tbb::task_arena& native() noexcept { return *native_; }

  // execute runs f() on a thread of the arena and returns its result; the
  // caller joins the arena if a slot is free, else waits for a worker to
  // run f. Exceptions propagate. Throws std::logic_error where entering
  // would wait forever: from a thread that holds the only slot of this
  // arena (max_concurrency 1) further out and has left it for another
  // arena with a plain task_arena::execute (oneTBB >= 2021.11).
  template <class F>
  std::invoke_result_t<F&> execute(F&& f) {
    detail::check_reentry(*native_, "tbbx::arena::execute");
    return native_->execute([&]() -> std::invoke_result_t<F&> {
      detail::arena_scope scope(native_);
      return f();
    });
  }

  // enqueue runs f() as a task of the arena and returns at once. f must
  // not throw (oneTBB terminates the process if it does).
  template <class F>
  void enqueue(F&& f) {
    native_->enqueue([f = std::forward<F>(f), a = native_] {
      detail::arena_scope scope(a);
      f();
    });
  }

 private:
  struct adopt_tag {};
  arena(adopt_tag, std::string name, tbb::task_arena* native);

  std::string name_;
  tbb::task_arena* native_;
  std::unique_ptr<tbb::task_arena> owned_;
};

}  // namespace tbbx

#endif  // TBBX_CPLUSPLUS >= 202002L

#endif  // TBBX_SCHEDULER_ARENA_H_
