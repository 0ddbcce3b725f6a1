// SPDX-License-Identifier: Apache-2.0
// The shared frame of every context-aware algorithm. Internal.
#ifndef TBBX_CONTEXT_DETAIL_BOUNDED_RUN_H_
#define TBBX_CONTEXT_DETAIL_BOUNDED_RUN_H_

#include <oneapi/tbb/partitioner.h>

#include <concepts>
#include <exception>
#include <type_traits>
#include <utility>

#include "tbbx/context/errors.h"
#include "tbbx/context/tbb_context.h"

namespace tbbx::detail {

// tbb_range is oneTBB's Range requirement, named so that a wrong argument
// gives one readable error.
template <class R>
concept tbb_range = std::copy_constructible<R> && requires(const R& r) {
  { r.empty() } -> std::convertible_to<bool>;
  { r.is_divisible() } -> std::convertible_to<bool>;
};

// tbb_partitioner is one of oneTBB's four partitioners.
template <class P>
concept tbb_partitioner =
    std::same_as<std::remove_cvref_t<P>, tbb::simple_partitioner> ||
    std::same_as<std::remove_cvref_t<P>, tbb::auto_partitioner> ||
    std::same_as<std::remove_cvref_t<P>, tbb::static_partitioner> ||
    std::same_as<std::remove_cvref_t<P>, tbb::affinity_partitioner>;

// throw_if_cut_short makes sure an algorithm never returns a silently
// partial result: it throws ctx.cause() if ctx is done, or a canceled_error
// if oneTBB canceled the work from outside (an enclosing oneTBB group that
// was canceled or failed).
inline void throw_if_cut_short(tbb_context& bound) {
  bound.get_context().throw_if_done();
  if (bound.native().is_group_execution_cancelled()) {
    throw canceled_error(
        "tbbx: algorithm canceled by an enclosing oneTBB task group");
  }
}

// bounded_run runs `algorithm(bound)` under ctx (`bound` converts to the
// tbb::task_group_context& oneTBB's algorithms take): nothing starts if
// ctx is done already, oneTBB stops scheduling once it is done, and the
// result is returned only if the run was not cut short.
template <class Algorithm>
decltype(auto) bounded_run(const context& ctx, Algorithm&& algorithm) {
  ctx.throw_if_done();
  tbb_context bound(ctx);
  if constexpr (std::is_void_v<std::invoke_result_t<Algorithm, tbb_context&>>) {
    std::forward<Algorithm>(algorithm)(bound);
    throw_if_cut_short(bound);
  } else {
    auto result = std::forward<Algorithm>(algorithm)(bound);
    throw_if_cut_short(bound);
    return result;
  }
}

// guarded_call runs one body invocation under ctx: skipped once ctx is done
// (oneTBB only checks its flag between tasks), with this_task::get_context()
// set to ctx while it runs.
template <class F, class... Args>
void guarded_call(const context& ctx, F& f, Args&&... args) {
  if (ctx.done()) return;
  context_scope scope(ctx);
  f(std::forward<Args>(args)...);
}

}  // namespace tbbx::detail

#endif  // TBBX_CONTEXT_DETAIL_BOUNDED_RUN_H_
