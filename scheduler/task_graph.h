// SPDX-License-Identifier: Apache-2.0
// task_graph: a DAG of tasks run under a context.
//
// clang-format off
//   tbbx::task_graph g;
//   auto load  = g.emplace([&] { load_input(); }).name("load");
//   auto left  = g.emplace([&](const tbbx::context& ctx) { fit(ctx, 0); });
//   auto right = g.emplace([&](const tbbx::context& ctx) { fit(ctx, 1); });
//   auto merge = g.emplace([&] { merge_results(); }).name("merge");
//   load.precede(left, right);
//   merge.succeed(left, right);
//   g.run(ctx);                       // or g.run(ctx, arena, policy)
//   if (merge.state() == tbbx::node_state::done) publish();
// clang-format on
//
// run() runs every node after all its predecessors, as oneTBB tasks on the
// caller's arena (or the one given), as many at once as the graph allows,
// and returns when every node has run or been skipped. The calling thread
// runs nodes while it waits. A node that has not started when the context
// ends is skipped (skipped_canceled); running nodes see the context through
// the `const context&` they may take, and through this_task::get_context().
//
// Failure policies:
//   fail_fast             the first error cancels the rest of the graph and
//                         is rethrown by run()
//   continue_independent  a failed node's descendants are skipped
//                         (skipped_upstream_failed), every other node runs,
//                         and run() throws a multi_error of all errors
// In both, if nodes were skipped because ctx ended, run() throws
// ctx.cause(): a partial run never looks complete. After run() each node's
// state() and error() tell what happened to it.
//
// A graph is validated when it runs: a cycle is rejected with
// std::invalid_argument naming its nodes ("a -> b -> c -> a"). A graph can
// run many times (not concurrently with itself, which throws
// std::logic_error), and runs nest: a node may run another graph under its
// own context. Building a graph is not thread-safe and not allowed while it
// runs. A graph costs one task object per node, made when the node is, so
// a run allocates only the context it runs under.
#ifndef TBBX_SCHEDULER_TASK_GRAPH_H_
#define TBBX_SCHEDULER_TASK_GRAPH_H_

#include "tbbx/context/detail/config.h"
#if TBBX_CPLUSPLUS >= 202002L  // otherwise config.h's #error is all

#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "tbbx/context/context.h"
#include "tbbx/scheduler/arena.h"
#include "tbbx/scheduler/detail/graph_node.h"
#include "tbbx/scheduler/node_state.h"

namespace tbbx {

enum class failure_policy { fail_fast, continue_independent };

// to_string names a node_state ("done", "skipped_canceled", ...).
TBBX_API std::string_view to_string(node_state state) noexcept;

class task_graph;

// task_node is a handle on one node of a task_graph; copying it is cheap.
// It is valid while its graph lives. A default-constructed task_node refers
// to nothing and every call on it throws std::logic_error.
class TBBX_API task_node {
 public:
  task_node() = default;

  // precede makes this node run before each of `others` (edges
  // this -> other); succeed makes it run after each (other -> this). Nodes
  // of another graph are rejected with std::invalid_argument.
  template <class... Nodes>
    requires(std::same_as<Nodes, task_node> && ...)
  task_node& precede(Nodes... others) {
    (add_edge(*this, others), ...);
    return *this;
  }
  template <class... Nodes>
    requires(std::same_as<Nodes, task_node> && ...)
  task_node& succeed(Nodes... others) {
    (add_edge(others, *this), ...);
    return *this;
  }

  // name sets the name used in error messages ("node #i" by default).
  task_node& name(std::string n);
  const std::string& name() const;

  // state and error report the node's fate in the last run.
  node_state state() const;
  std::exception_ptr error() const;

  friend bool operator==(const task_node&, const task_node&) = default;

 private:
  friend class task_graph;
  task_node(task_graph* g, std::size_t index) : graph_(g), index_(index) {}
  static void add_edge(const task_node& from, const task_node& to);
  detail::graph_node& node() const;

  task_graph* graph_ = nullptr;
  std::size_t index_ = 0;
};

// task_callable: what task_graph::emplace accepts, f() or f(const context&).
template <class F>
concept task_callable = std::invocable<std::decay_t<F>&> ||
                        std::invocable<std::decay_t<F>&, const context&>;

class TBBX_API task_graph {
 public:
  task_graph();
  ~task_graph();
  task_graph(const task_graph&) = delete;
  task_graph& operator=(const task_graph&) = delete;

  // emplace adds a node running f() or f(const context&).
  template <task_callable F>
  task_node emplace(F&& f) {
    check_not_running("tbbx::task_graph::emplace");
    nodes_.emplace_back(std::forward<F>(f),
                        static_cast<std::uint32_t>(nodes_.size()));
    return added();
  }

  std::size_t size() const noexcept;

  // run runs the graph under ctx (see the file comment). The arena form
  // runs the nodes in `where`; the caller helps from inside it.
  void run(const context& ctx,
           failure_policy policy = failure_policy::fail_fast);
  void run(const context& ctx, arena& where,
           failure_policy policy = failure_policy::fail_fast);

 private:
  friend class task_node;
  task_node added();
  void check_not_running(const char* caller) const;
  void validate();
  std::string cycle_message(const std::vector<std::size_t>& left) const;
  void run_on(const context& ctx, tbb::task_arena* where,
              failure_policy policy);

  std::deque<detail::graph_node> nodes_;  // stable addresses
  std::vector<std::string> names_;        // by node index
  std::vector<std::vector<detail::graph_node*>> successors_;  // as built
  std::vector<detail::graph_node*> edges_;  // all successors, by node
  std::vector<std::exception_ptr> errors_;  // by node, of the last run
  bool validated_ = false;                  // no cycle since the last change
  bool counting_up_ = true;  // how the next run counts (graph_node::pending)
  detail::graph_run* current_run_ = nullptr;  // what node tasks run under
  std::atomic<bool> running_{false};
};

}  // namespace tbbx

#endif  // TBBX_CPLUSPLUS >= 202002L

#endif  // TBBX_SCHEDULER_TASK_GRAPH_H_
