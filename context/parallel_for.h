// SPDX-License-Identifier: Apache-2.0
// tbbx::parallel_for: tbb::parallel_for bounded by a context.
//
// clang-format off
//   tbbx::cancelable_context c = tbbx::with_timeout(parent, 100ms);
//   tbbx::parallel_for(c.ctx, 0, n, [&](int i) { out[i] = f(in[i]); });
// clang-format on
//
// The signatures are oneTBB's with `const context& ctx` first and the
// task_group_context argument removed; every partitioner works. Once ctx is
// done no new chunk starts (chunks already running finish; poll ctx.done()
// inside long bodies), and the call throws ctx.cause() instead of returning
// a partial result. Nothing runs if ctx is done on entry. An exception from
// the body cancels the rest and propagates, as in oneTBB. Inside the body
// this_task::get_context() is ctx.
#ifndef TBBX_CONTEXT_PARALLEL_FOR_H_
#define TBBX_CONTEXT_PARALLEL_FOR_H_

#include "tbbx/context/detail/config.h"
#if TBBX_CPLUSPLUS >= 202002L  // otherwise config.h's #error is all

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>

#include <concepts>
#include <stdexcept>

#include "tbbx/context/context.h"
#include "tbbx/context/detail/bounded_run.h"

namespace tbbx {

template <detail::tbb_range Range, class Body>
  requires std::invocable<const Body&, const Range&>
void parallel_for(const context& ctx, const Range& range, const Body& body) {
  detail::bounded_run(ctx, [&](tbb::task_group_context& native) {
    tbb::parallel_for(
        range, [&](const Range& r) { detail::guarded_call(ctx, body, r); },
        native);
  });
}

template <detail::tbb_range Range, class Body,
          detail::tbb_partitioner Partitioner>
  requires std::invocable<const Body&, const Range&>
void parallel_for(const context& ctx, const Range& range, const Body& body,
                  Partitioner&& partitioner) {
  detail::bounded_run(ctx, [&](tbb::task_group_context& native) {
    tbb::parallel_for(
        range, [&](const Range& r) { detail::guarded_call(ctx, body, r); },
        partitioner, native);
  });
}

namespace detail {

// index_for maps oneTBB's index form onto a blocked_range, so that the done
// check and the context scope cost once per chunk, not once per index.
template <std::integral Index, class Function, class... Partitioner>
void index_for(const context& ctx, Index first, Index last, Index step,
               const Function& f, Partitioner&&... partitioner) {
  if (step <= Index(0)) {
    throw std::invalid_argument("tbbx::parallel_for: step must be positive");
  }
  bounded_run(ctx, [&](tbb::task_group_context& native) {
    if (last <= first) return;
    const Index count = (last - first - Index(1)) / step + Index(1);
    tbb::parallel_for(
        tbb::blocked_range<Index>(Index(0), count),
        [&](const tbb::blocked_range<Index>& r) {
          if (ctx.done()) return;
          context_scope scope(ctx);
          for (Index i = r.begin(); i != r.end(); ++i) f(first + i * step);
        },
        partitioner..., native);
  });
}

}  // namespace detail

template <std::integral Index, class Function>
  requires std::invocable<const Function&, Index>
void parallel_for(const context& ctx, Index first, Index last,
                  const Function& f) {
  detail::index_for(ctx, first, last, Index(1), f);
}

template <std::integral Index, class Function>
  requires std::invocable<const Function&, Index>
void parallel_for(const context& ctx, Index first, Index last, Index step,
                  const Function& f) {
  detail::index_for(ctx, first, last, step, f);
}

template <std::integral Index, class Function,
          detail::tbb_partitioner Partitioner>
  requires std::invocable<const Function&, Index>
void parallel_for(const context& ctx, Index first, Index last,
                  const Function& f, Partitioner&& partitioner) {
  detail::index_for(ctx, first, last, Index(1), f, partitioner);
}

template <std::integral Index, class Function,
          detail::tbb_partitioner Partitioner>
  requires std::invocable<const Function&, Index>
void parallel_for(const context& ctx, Index first, Index last, Index step,
                  const Function& f, Partitioner&& partitioner) {
  detail::index_for(ctx, first, last, step, f, partitioner);
}

}  // namespace tbbx

#endif  // TBBX_CPLUSPLUS >= 202002L

#endif  // TBBX_CONTEXT_PARALLEL_FOR_H_
