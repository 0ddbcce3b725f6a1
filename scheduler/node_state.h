// SPDX-License-Identifier: Apache-2.0
// node_state: what happened to one node of a task_graph in its last run.
//
// clang-format off
//   auto merge = graph.emplace([] { merge_results(); });
//   try { graph.run(ctx); } catch (const std::exception&) { /* logged */ }
//   if (merge.state() == tbbx::node_state::skipped_canceled) retry_later();
// clang-format on
//
// Kept apart from task_graph.h so that the node's internal header
// (detail/graph_node.h) can name it without a public type living there.
#ifndef TBBX_SCHEDULER_NODE_STATE_H_
#define TBBX_SCHEDULER_NODE_STATE_H_

#include "tbbx/context/detail/config.h"
#if TBBX_CPLUSPLUS >= 202002L  // otherwise config.h's #error is all

#include <cstdint>

namespace tbbx {

enum class node_state : std::uint8_t {
  not_run,                  // the graph has not run (or is running)
  done,                     // ran and returned
  failed,                   // ran and threw: see error()
  skipped_canceled,         // not started: the context ended first
  skipped_upstream_failed,  // not started: a predecessor failed
};

}  // namespace tbbx

#endif  // TBBX_CPLUSPLUS >= 202002L
#endif  // TBBX_SCHEDULER_NODE_STATE_H_
