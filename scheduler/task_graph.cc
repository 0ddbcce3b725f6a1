// SPDX-License-Identifier: Apache-2.0
#include "tbbx/scheduler/task_graph.h"

#include <stdexcept>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "tbbx/context/detail/ambient.h"
#include "tbbx/context/detail/chaos.h"
#include "tbbx/context/detail/tbb_adapter.h"
#include "tbbx/context/multi_error.h"

namespace tbbx {
namespace detail {

struct graph_run {
  graph_run(const context& parent, failure_policy p, bool counting_up,
            graph_node* const* edge_array, std::exception_ptr* error_array,
            std::size_t nodes)
      : policy(p),
        counting_up(counting_up),
        edges(edge_array),
        errors(error_array),
        outstanding(nodes) {
    auto [c, cancel_run] = with_cancel(parent);
    ctx = std::move(c);
    cancel = std::move(cancel_run);
  }

  void spawn(graph_node& n) noexcept { spawn_in(nullptr, n, sched); }

  const failure_policy policy;
  const bool counting_up;             // see graph_node::pending
  graph_node* const* const edges;     // the graph's edge array
  std::exception_ptr* const errors;   // the graph's error array
  context ctx;                        // the run's context: parent's child
  cancel_func cancel;                 // fail_fast cancels it on an error
  std::exception_ptr first_error;     // written by the cancel that won
  std::atomic<bool> poisoned{false};  // some upstream_failed was set
  wait_counter outstanding;           // nodes not yet run or skipped
  tbb::task_group_context& sched = scheduling_context();  // looked up once
};

// run_node runs (or skips) one node and returns the successor it made ready
// last, after spawning the others it made ready.
graph_node* run_node(graph_run& r, graph_node& n) noexcept {
  if (r.policy == failure_policy::continue_independent &&
      n.upstream_failed.load(std::memory_order_acquire)) {
    n.state = node_state::skipped_upstream_failed;
  } else if (r.ctx.done()) {
    n.state = node_state::skipped_canceled;
  } else {
    try {
      n.fn(r.ctx);
      n.state = node_state::done;
    } catch (...) {
      n.state = node_state::failed;
      std::exception_ptr& error = r.errors[n.index];
      error = std::current_exception();
      // Every failing node cancels, and only then releases its
      // successors: a cancel returns once the run's whole context is
      // done, even when another node's cancel won, so no successor of a
      // failed node ever sees the run still live.
      if (r.policy == failure_policy::fail_fast &&
          cancel_node(context_access::get(r.ctx), errc::canceled, error)) {
        r.first_error = error;  // read by run() after the wait
      }
    }
  }
  TBBX_CHAOS_POINT();  // between the cancel and releasing successors
  const bool poison = r.policy == failure_policy::continue_independent &&
                      (n.state == node_state::failed ||
                       n.state == node_state::skipped_upstream_failed);
  if (poison) r.poisoned.store(true, std::memory_order_relaxed);
  graph_node* next = nullptr;
  graph_node* const* const first = r.edges + n.first_edge;
  for (graph_node* const* s = first; s != first + n.edge_count; ++s) {
    graph_node& succ = **s;
    if (poison) succ.upstream_failed.store(true, std::memory_order_relaxed);
    const bool ready =
        r.counting_up
            ? succ.pending.fetch_add(1, std::memory_order_acq_rel) + 1 ==
                  succ.predecessors
            : succ.pending.fetch_sub(1, std::memory_order_acq_rel) == 1;
    if (ready) {
      if (next != nullptr) r.spawn(*next);
      next = &succ;
    }
  }
  return next;
}

tbb_task* graph_node::execute(task_execution&) {
  graph_run& r = **run;
  ambient_scope scope(r.ctx);
  // One successor made ready runs here next, in a loop rather than as a
  // new task: a chain costs no spawn and no stack depth. The nodes run here
  // are counted off the run's total once, at the end: the last successor
  // is still outstanding until then, so the run cannot end under us.
  std::uint64_t finished = 0;
  for (graph_node* n = this; n != nullptr; ++finished) n = run_node(r, *n);
  r.outstanding.release(finished);
  return nullptr;
}

tbb_task* graph_node::cancel(task_execution& ed) {
  // The scheduling context is never canceled; treat it as a skip anyway.
  return execute(ed);
}

}  // namespace detail

task_graph::task_graph() = default;

// cycle_message names the nodes of one cycle among `left` (the nodes Kahn's
// algorithm could not order), found by walking successors among them until
// a node repeats: every such node lies on or leads to a cycle.
std::string task_graph::cycle_message(
    const std::vector<std::size_t>& left) const {
  std::unordered_map<const detail::graph_node*, std::size_t> index;
  for (std::size_t i : left) index[&nodes_[i]] = i;
  std::unordered_map<std::size_t, std::size_t> position;
  std::vector<std::size_t> path;
  std::size_t at = left.front();
  while (position.find(at) == position.end()) {
    position[at] = path.size();
    path.push_back(at);
    for (const detail::graph_node* s : successors_[at]) {
      auto it = index.find(s);
      if (it != index.end()) {
        at = it->second;
        break;
      }
    }
  }
  std::string message = "tbbx::task_graph::run: the graph has a cycle: ";
  for (std::size_t i = position[at]; i < path.size(); ++i) {
    message += names_[path[i]] + " -> ";
  }
  return message + names_[at];
}
task_graph::~task_graph() = default;

std::size_t task_graph::size() const noexcept { return nodes_.size(); }

task_node task_graph::added() {
  const std::size_t index = nodes_.size() - 1;
  names_.push_back("node #" + std::to_string(index));
  successors_.emplace_back();
  validated_ = false;
  return task_node(this, index);
}

void task_graph::check_not_running(const char* caller) const {
  if (running_.load(std::memory_order_acquire)) {
    throw std::logic_error(std::string(caller) +
                           ": the graph is running; build it before run()");
  }
}

void task_graph::validate() {
  if (validated_) return;
  // Kahn's algorithm: whatever cannot be ordered is on or behind a cycle.
  const std::size_t n = nodes_.size();
  std::unordered_map<const detail::graph_node*, std::size_t> index;
  index.reserve(n);
  std::vector<std::uint32_t> indegree(n);
  std::vector<std::size_t> ready;
  for (std::size_t i = 0; i < n; ++i) {
    index[&nodes_[i]] = i;
    indegree[i] = nodes_[i].predecessors;
    if (indegree[i] == 0) ready.push_back(i);
  }
  std::size_t ordered = 0;
  while (!ready.empty()) {
    const std::size_t i = ready.back();
    ready.pop_back();
    ++ordered;
    for (detail::graph_node* s : successors_[i]) {
      if (--indegree[index[s]] == 0) ready.push_back(index[s]);
    }
  }
  // The counters' resting state (see graph_node::pending) after a change.
  for (auto& node : nodes_) {
    node.pending.store(0, std::memory_order_relaxed);
    node.run = &current_run_;
  }
  errors_.assign(n, nullptr);
  counting_up_ = true;
  if (ordered != n) {
    std::vector<std::size_t> left;
    for (std::size_t i = 0; i < n; ++i) {
      if (indegree[i] != 0) left.push_back(i);
    }
    throw std::invalid_argument(cycle_message(left));
  }
  // One array of every node's successors, in node order.
  edges_.clear();
  for (const auto& list : successors_) {
    edges_.insert(edges_.end(), list.begin(), list.end());
  }
  if (edges_.size() > UINT32_MAX) {
    throw std::length_error("tbbx::task_graph::run: more than 2^32 edges");
  }
  std::uint32_t offset = 0;
  for (std::size_t i = 0; i < n; ++i) {
    nodes_[i].first_edge = offset;
    nodes_[i].edge_count = static_cast<std::uint32_t>(successors_[i].size());
    offset += nodes_[i].edge_count;
  }
  validated_ = true;
}

void task_graph::run(const context& ctx, failure_policy policy) {
  run_on(ctx, nullptr, policy);
}

void task_graph::run(const context& ctx, arena& where, failure_policy policy) {
  run_on(ctx, &where.native(), policy);
}

void task_graph::run_on(const context& ctx, tbb::task_arena* where,
                        failure_policy policy) {
  if (running_.exchange(true, std::memory_order_acq_rel)) {
    throw std::logic_error(
        "tbbx::task_graph::run: the graph is already running (a graph runs "
        "one run at a time)");
  }
  struct running_guard {
    std::atomic<bool>& flag;
    ~running_guard() { flag.store(false, std::memory_order_release); }
  } guard{running_};
  validate();
  if (nodes_.empty()) {
    ctx.throw_if_done();
    return;
  }

  detail::graph_run r(ctx, policy, counting_up_, edges_.data(), errors_.data(),
                      nodes_.size());
  current_run_ = &r;
  struct run_end {
    task_graph& g;
    detail::graph_run& r;
    ~run_end() {
      g.current_run_ = nullptr;
      g.counting_up_ = !g.counting_up_;
      if (r.poisoned.load(std::memory_order_relaxed)) {
        for (auto& n : g.nodes_) {
          n.upstream_failed.store(false, std::memory_order_relaxed);
        }
      }
    }
  } end{*this, r};
  detail::execute_in(where, [&] {
    for (auto& n : nodes_) {
      if (n.predecessors == 0) r.spawn(n);
    }
    detail::wait_in(nullptr, r.outstanding, r.sched);
  });

  std::vector<std::exception_ptr> errors;
  bool skipped_by_cancel = false;
  for (auto& n : nodes_) {
    if (n.state == node_state::failed) errors.push_back(errors_[n.index]);
    skipped_by_cancel =
        skipped_by_cancel || n.state == node_state::skipped_canceled;
  }
  if (!errors.empty()) {
    // fail_fast: the error that canceled the run (others raced with it),
    // or, if the caller's context ended first, the first failure.
    if (policy == failure_policy::fail_fast) {
      std::rethrow_exception(r.first_error != nullptr ? r.first_error
                                                      : errors.front());
    }
    throw multi_error(std::move(errors));
  }
  if (skipped_by_cancel) std::rethrow_exception(ctx.cause());
}

std::string_view to_string(node_state state) noexcept {
  switch (state) {
    case node_state::not_run:
      return "not_run";
    case node_state::done:
      return "done";
    case node_state::failed:
      return "failed";
    case node_state::skipped_canceled:
      return "skipped_canceled";
    case node_state::skipped_upstream_failed:
      return "skipped_upstream_failed";
  }
  return "unknown";
}

detail::graph_node& task_node::node() const {
  if (graph_ == nullptr) {
    throw std::logic_error(
        "tbbx::task_node: an empty handle refers to no node");
  }
  return graph_->nodes_[index_];
}

void task_node::add_edge(const task_node& from, const task_node& to) {
  from.node();  // checks the handle
  detail::graph_node& b = to.node();
  if (from.graph_ != to.graph_) {
    throw std::invalid_argument("tbbx::task_node: cannot link " + from.name() +
                                " and " + to.name() +
                                ": they belong to different graphs");
  }
  from.graph_->check_not_running("tbbx::task_node::precede");
  from.graph_->successors_[from.index_].push_back(&b);
  ++b.predecessors;
  from.graph_->validated_ = false;
}

task_node& task_node::name(std::string n) {
  node();  // checks the handle
  graph_->names_[index_] = std::move(n);
  return *this;
}

const std::string& task_node::name() const {
  node();
  return graph_->names_[index_];
}

node_state task_node::state() const {
  const detail::graph_node& n = node();  // checks the handle first
  graph_->check_not_running("tbbx::task_node::state");
  return n.state;
}

std::exception_ptr task_node::error() const {
  const detail::graph_node& n = node();  // checks the handle first
  graph_->check_not_running("tbbx::task_node::error");
  return n.state == node_state::failed ? graph_->errors_[index_] : nullptr;
}

}  // namespace tbbx
