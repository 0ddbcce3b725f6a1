// SPDX-License-Identifier: Apache-2.0
// tbbx::parallel_sort: tbb::parallel_sort bounded by a context.
//
// clang-format off
//   tbbx::parallel_sort(ctx, v.begin(), v.end());
//   tbbx::parallel_sort(ctx, v, std::greater<>());
// clang-format on
//
// oneTBB's parallel_sort takes no task_group_context; tbbx runs it inside a
// task bound to ctx, so that oneTBB's nested algorithms inherit the
// cancellation. Once ctx is done the sort stops early, leaves the range
// permuted but not sorted, and throws ctx.cause(); canceled from an
// enclosing oneTBB group, it throws canceled_error. It never returns with
// the range unsorted.
#ifndef TBBX_CONTEXT_PARALLEL_SORT_H_
#define TBBX_CONTEXT_PARALLEL_SORT_H_

#include "tbbx/context/detail/config.h"
#if TBBX_CPLUSPLUS >= 202002L  // otherwise config.h's #error is all

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/parallel_sort.h>

#include <functional>
#include <iterator>

#include "tbbx/context/context.h"
#include "tbbx/context/detail/bounded_run.h"

namespace tbbx {

template <std::random_access_iterator Iterator, class Compare>
void parallel_sort(const context& ctx, Iterator first, Iterator last,
                   const Compare& comp) {
  detail::bounded_run(ctx, [&](tbb::task_group_context& native) {
    // One task under `native` (not a task_group: its wait() would reset
    // `native` and hide a cancellation from bounded_run's check).
    tbb::parallel_for(
        tbb::blocked_range<int>(0, 1),
        [&](const tbb::blocked_range<int>&) {
          if (ctx.done()) return;
          detail::context_scope scope(ctx);
          tbb::parallel_sort(first, last, comp);
        },
        tbb::simple_partitioner(), native);
  });
}

template <std::random_access_iterator Iterator>
void parallel_sort(const context& ctx, Iterator first, Iterator last) {
  parallel_sort(ctx, first, last, std::less<>());
}

template <class Container, class Compare>
  requires std::random_access_iterator<
      decltype(std::begin(std::declval<Container&>()))>
void parallel_sort(const context& ctx, Container&& container,
                   const Compare& comp) {
  parallel_sort(ctx, std::begin(container), std::end(container), comp);
}

template <class Container>
  requires std::random_access_iterator<
      decltype(std::begin(std::declval<Container&>()))>
void parallel_sort(const context& ctx, Container&& container) {
  parallel_sort(ctx, std::begin(container), std::end(container), std::less<>());
}

}  // namespace tbbx

#endif  // TBBX_CPLUSPLUS >= 202002L

#endif  // TBBX_CONTEXT_PARALLEL_SORT_H_
