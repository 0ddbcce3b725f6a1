// SPDX-License-Identifier: Apache-2.0
// oneTBB flow graphs under a tbbx context: build the graph on the native
// oneTBB context of a tbb_context, and wait with tbbx::wait_for_all, which
// never returns normally from a graph that was cut short.
//
// clang-format off
//   tbbx::tbb_context bound(ctx);            // outlives the graph's work
//   tbb::flow::graph g(bound.native());      // canceled when ctx ends
//   tbb::flow::function_node<int, int> square(
//       g, tbb::flow::unlimited, [](int x) { return x * x; });
//   for (int i = 0; i < n; ++i) square.try_put(i);
//   tbbx::wait_for_all(ctx, g);              // throws ctx.cause() if cut short
// clang-format on
//
// When ctx ends, oneTBB stops scheduling the graph's tasks: messages not
// yet processed are dropped, and tbb::flow::graph::wait_for_all() returns
// normally, as if the graph had finished. tbbx::wait_for_all(ctx, g) waits
// the same way (helping run the graph's tasks), then throws ctx.cause() if
// ctx is done, or a canceled_error if the graph was canceled by other means
// (graph::cancel(), an enclosing oneTBB cancellation). An exception thrown
// by a node's body cancels the graph and is rethrown as oneTBB does. Like
// the tbbx algorithms, it throws ctx.cause() whenever ctx is done when the
// wait returns, even if the last message was processed just before: a
// result is never reported complete after its context ended.
//
// oneTBB resets the graph's native context when a wait returns, so a graph
// whose context ended stays usable only for inspection: do not put new
// messages into it (they would run, since the binding cancels once). The
// tbb_context must outlive every task of the graph (declare it before the
// graph). wait_for_all is not safe to call concurrently on one graph (as
// with oneTBB's). Building the graph on a different native context than
// the one bound to ctx is not detected: the graph then runs unaffected by
// ctx, and only the final check throws.
#ifndef TBBX_CONTEXT_FLOW_GRAPH_H_
#define TBBX_CONTEXT_FLOW_GRAPH_H_

#include "tbbx/context/detail/config.h"
#if TBBX_CPLUSPLUS >= 202002L  // otherwise config.h's #error is all

#include <oneapi/tbb/flow_graph.h>

#include <exception>

#include "tbbx/context/context.h"
#include "tbbx/context/errors.h"
#include "tbbx/context/tbb_context.h"

namespace tbbx {

// wait_for_all waits until g has no work left (g.wait_for_all()), then
// throws ctx.cause() if ctx is done, or canceled_error if g was canceled.
// It returns normally only when every message put into g was processed.
inline void wait_for_all(const context& ctx, tbb::flow::graph& g) {
  g.wait_for_all();  // rethrows a body's exception
  ctx.throw_if_done();
  if (g.is_cancelled()) {
    throw canceled_error("tbbx::wait_for_all: the flow graph was canceled");
  }
}

}  // namespace tbbx

#endif  // TBBX_CPLUSPLUS >= 202002L

#endif  // TBBX_CONTEXT_FLOW_GRAPH_H_
