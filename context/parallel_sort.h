// tbbx::parallel_sort: tbb::parallel_sort bounded by a context.
//
//   tbbx::parallel_sort(ctx, v.begin(), v.end());
//   tbbx::parallel_sort(ctx, v, std::greater<>());
//
// oneTBB's parallel_sort takes no task_group_context; tbbx runs it inside a
// task of a group bound to ctx, so that oneTBB's nested algorithms inherit
// the cancellation. Once ctx is done the sort stops early, leaves the range
// permuted but not sorted, and throws ctx.cause().
#ifndef TBBX_CONTEXT_PARALLEL_SORT_H_
#define TBBX_CONTEXT_PARALLEL_SORT_H_

#include <oneapi/tbb/parallel_sort.h>
#include <oneapi/tbb/task_group.h>

#include <functional>
#include <iterator>

#include "tbbx/context/context.h"
#include "tbbx/context/detail/bounded_run.h"

namespace tbbx {

template <std::random_access_iterator Iterator, class Compare>
void parallel_sort(const context& ctx, Iterator first, Iterator last,
                   const Compare& comp) {
  detail::bounded_run(ctx, [&](tbb::task_group_context& native) {
    tbb::task_group group(native);
    // run_and_wait resets `native` when it returns; bounded_run then checks
    // ctx itself.
    group.run_and_wait([&] {
      detail::context_scope scope(ctx);
      tbb::parallel_sort(first, last, comp);
    });
  });
}

template <std::random_access_iterator Iterator>
void parallel_sort(const context& ctx, Iterator first, Iterator last) {
  parallel_sort(ctx, first, last, std::less<>());
}

template <class Container, class Compare>
requires std::random_access_iterator<decltype(std::begin(
    std::declval<Container&>()))>
void parallel_sort(const context& ctx, Container&& container,
                   const Compare& comp) {
  parallel_sort(ctx, std::begin(container), std::end(container), comp);
}

template <class Container>
requires std::random_access_iterator<decltype(std::begin(
    std::declval<Container&>()))>
void parallel_sort(const context& ctx, Container&& container) {
  parallel_sort(ctx, std::begin(container), std::end(container), std::less<>());
}

}  // namespace tbbx

#endif  // TBBX_CONTEXT_PARALLEL_SORT_H_
