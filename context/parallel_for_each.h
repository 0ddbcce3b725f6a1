// SPDX-License-Identifier: Apache-2.0
// tbbx::parallel_for_each: tbb::parallel_for_each bounded by a context.
//
// clang-format off
//   tbbx::parallel_for_each(ctx, files, [](const path& p) { hash(p); });
//   tbbx::parallel_for_each(ctx, roots.begin(), roots.end(),
//       [](node* n, tbb::feeder<node*>& feeder) {   // feeders work too
//         for (node* c : n->children) feeder.add(c);
//       });
// clang-format on
//
// oneTBB's signatures with `const context& ctx` first. Items not yet started
// when ctx is done are skipped (fed items too) and the call throws
// ctx.cause(). Inside the body this_task::get_context() is ctx.
#ifndef TBBX_CONTEXT_PARALLEL_FOR_EACH_H_
#define TBBX_CONTEXT_PARALLEL_FOR_EACH_H_

#include "tbbx/context/detail/config.h"
#if TBBX_CPLUSPLUS >= 202002L  // otherwise config.h's #error is all

#include <oneapi/tbb/parallel_for_each.h>

#include <concepts>
#include <iterator>
#include <utility>

#include "tbbx/context/context.h"
#include "tbbx/context/detail/bounded_run.h"

namespace tbbx {
namespace detail {

// for_each_body forwards to the user's body with or without a feeder, as
// oneTBB detects it, and skips items once ctx is done.
template <class Body>
struct for_each_body {
  const context* ctx;
  const Body* body;

  template <class Item>
    requires std::invocable<const Body&, Item&&>
  void operator()(Item&& item) const {
    guarded_call(*ctx, *body, std::forward<Item>(item));
  }

  template <class Item, class Feeder>
    requires std::invocable<const Body&, Item&&, Feeder&>
  void operator()(Item&& item, Feeder& feeder) const {
    guarded_call(*ctx, *body, std::forward<Item>(item), feeder);
  }
};

}  // namespace detail

template <std::input_iterator Iterator, class Body>
void parallel_for_each(const context& ctx, Iterator first, Iterator last,
                       const Body& body) {
  detail::bounded_run(ctx, [&](tbb::task_group_context& native) {
    tbb::parallel_for_each(first, last,
                           detail::for_each_body<Body>{&ctx, &body}, native);
  });
}

template <class Container, class Body>
  requires requires(Container& c) {
    std::begin(c);
    std::end(c);
  }
void parallel_for_each(const context& ctx, Container&& container,
                       const Body& body) {
  parallel_for_each(ctx, std::begin(container), std::end(container), body);
}

}  // namespace tbbx

#endif  // TBBX_CPLUSPLUS >= 202002L

#endif  // TBBX_CONTEXT_PARALLEL_FOR_EACH_H_
