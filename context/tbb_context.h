// SPDX-License-Identifier: Apache-2.0
// tbb_context: binds a tbbx::context to a tbb::task_group_context, and
// this_task::get_context(), the context of the tbbx work on this thread.
//
// clang-format off
//   tbbx::tbb_context bound(ctx);
//   tbb::parallel_for(range, body, bound.native());  // oneTBB stops when ctx ends
//   ctx.throw_if_done();   // oneTBB itself returns a silently partial result
// clang-format on
//
// The native context is canceled (cancel_group_execution) as soon as the
// tbbx context is done, by whichever thread makes it done (for a deadline,
// tbbx's deferred runner: the timer thread never calls into oneTBB), or at
// construction if it is done already. Prefer the tbbx algorithms
// (<tbbx/context/algorithms.h>), which also throw ctx.cause() when cut short.
//
// oneTBB rules the binding respects:
//  - The native context is `bound`: oneTBB binds it lazily, at first use, to
//    the context of the task running on that thread, so a cancellation of an
//    enclosing oneTBB algorithm still reaches it. The tbbx cancellation does
//    not depend on that tree: it cancels the native context directly, so it
//    works across task_arena::execute, which cuts oneTBB's tree.
//  - oneTBB's cancellation is sticky until reset(), and task_group::wait()
//    resets it. Do not reuse a native context after ctx is done; check
//    ctx.done() (one load) rather than is_group_execution_cancelled().
//
// tbb_context is neither copyable nor movable (oneTBB's context is not) and
// must outlive every task that uses native(). Its destructor deregisters
// from ctx and, if the cancel is running on another thread at that moment,
// waits for it.
#ifndef TBBX_CONTEXT_TBB_CONTEXT_H_
#define TBBX_CONTEXT_TBB_CONTEXT_H_

#include "tbbx/context/detail/config.h"
#if TBBX_CPLUSPLUS >= 202002L  // otherwise config.h's #error is all

#include <oneapi/tbb/task_group.h>

#include "tbbx/context/context.h"
#include "tbbx/context/detail/ambient.h"

namespace tbbx {

class TBBX_API tbb_context {
 public:
  explicit tbb_context(const context& ctx);
  ~tbb_context();
  tbb_context(const tbb_context&) = delete;
  tbb_context& operator=(const tbb_context&) = delete;

  // native is canceled as soon as get_context() is done.
  tbb::task_group_context& native() noexcept { return native_; }
  operator tbb::task_group_context&() noexcept { return native_; }

  const context& get_context() const noexcept { return ctx_; }

 private:
  struct canceler : detail::callback_node {
    explicit canceler(tbb_context* o) noexcept;
    tbb_context* owner;
  };

  context ctx_;
  tbb::task_group_context native_;
  canceler canceler_{this};
  bool registered_ = false;
};

namespace detail {

// context_of_native_task looks up the context bound to the oneTBB context of
// the task running on this thread (filters of tbbx::parallel_pipeline, whose
// bodies tbbx cannot wrap); background() if there is none.
const context& context_of_native_task() noexcept;

// pipeline_registration makes `bound` findable by context_of_native_task
// for its lifetime.
class TBBX_API pipeline_registration {
 public:
  explicit pipeline_registration(tbb_context& bound);
  ~pipeline_registration();
  pipeline_registration(const pipeline_registration&) = delete;
  pipeline_registration& operator=(const pipeline_registration&) = delete;

 private:
  tbb_context& bound_;
};

}  // namespace detail

namespace this_task {

// get_context returns the context of the tbbx work running on this thread:
// inside the body of a tbbx algorithm or a task of a tbbx pattern, that
// context (inside a tbbx::parallel_pipeline filter, the pipeline's, even
// when the pipeline runs within another tbbx body); background() anywhere
// else. The reference stays valid while the body runs. Prefer passing
// `ctx` explicitly; this is a convenience.
inline const context& get_context() noexcept {
  const std::uintptr_t ambient = detail::current_ambient;
  if (ambient != 0 &&
      detail::running_pipelines.load(std::memory_order_relaxed) == 0) {
    return *reinterpret_cast<const context*>(ambient);
  }
  return detail::ambient_context_slow(ambient);
}

}  // namespace this_task
}  // namespace tbbx

#endif  // TBBX_CPLUSPLUS >= 202002L

#endif  // TBBX_CONTEXT_TBB_CONTEXT_H_
