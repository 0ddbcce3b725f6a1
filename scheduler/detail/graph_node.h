// SPDX-License-Identifier: Apache-2.0
// The nodes of a tbbx::task_graph. Internal: use
// <tbbx/scheduler/task_graph.h>.
//
// Laid out for the run loop: nodes live contiguously (a deque), each with
// its callable stored inline when small, its successors as a range of one
// graph-wide edge array (filled when the graph is validated), and its
// oneTBB task made once and reused by every run. Names and the builder's
// adjacency lists stay out of the way in the graph.
#ifndef TBBX_SCHEDULER_DETAIL_GRAPH_NODE_H_
#define TBBX_SCHEDULER_DETAIL_GRAPH_NODE_H_

#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <new>
#include <type_traits>
#include <utility>

#include "tbbx/context/context.h"
#include "tbbx/context/detail/export.h"
#include "tbbx/context/detail/tbb_adapter.h"
#include "tbbx/scheduler/node_state.h"

namespace tbbx::detail {

// node_callable holds f() or f(const context&): inline if it fits in two
// words (a lambda capturing a reference or two), else on the heap.
class node_callable {
 public:
  template <class F>
  explicit node_callable(F&& f) {
    using fn = std::decay_t<F>;
    if constexpr (sizeof(fn) <= sizeof(storage_) &&
                  alignof(fn) <= alignof(void*) &&
                  std::is_nothrow_move_constructible_v<fn>) {
      ::new (static_cast<void*>(storage_)) fn(std::forward<F>(f));
      invoke_ = [](unsigned char* p, const context& ctx) {
        call(*std::launder(reinterpret_cast<fn*>(p)), ctx);
      };
      destroy_ = [](unsigned char* p) noexcept {
        std::launder(reinterpret_cast<fn*>(p))->~fn();
      };
    } else {
      fn* heap = new fn(std::forward<F>(f));
      std::memcpy(storage_, &heap, sizeof(heap));
      invoke_ = [](unsigned char* p, const context& ctx) {
        fn* target;
        std::memcpy(&target, p, sizeof(target));
        call(*target, ctx);
      };
      destroy_ = [](unsigned char* p) noexcept {
        fn* target;
        std::memcpy(&target, p, sizeof(target));
        delete target;
      };
    }
  }
  ~node_callable() { destroy_(storage_); }
  node_callable(const node_callable&) = delete;
  node_callable& operator=(const node_callable&) = delete;

  void operator()(const context& ctx) { invoke_(storage_, ctx); }

 private:
  template <class F>
  static void call(F& f, const context& ctx) {
    if constexpr (std::invocable<F&, const context&>) {
      f(ctx);
    } else {
      f();
    }
  }

  alignas(void*) unsigned char storage_[2 * sizeof(void*)];
  void (*invoke_)(unsigned char*, const context&);
  void (*destroy_)(unsigned char*) noexcept;
};

struct graph_run;

// graph_node is a node and its oneTBB task in one 128-byte object (the task
// is made with the node and reused by every run; a node runs at most once
// per run). Its successors are a range of the graph's edge array, its error
// a slot of the graph's error array, both reached through the run.
struct TBBX_API graph_node final : tbb_task {
  template <class F>
  graph_node(F&& f, std::uint32_t i) : fn(std::forward<F>(f)), index(i) {}

  tbb_task* execute(task_execution&) override;
  tbb_task* cancel(task_execution&) override;

  graph_run* const* run = nullptr;  // the graph's current run
  node_callable fn;
  std::uint32_t first_edge = 0;  // set when the graph is validated
  std::uint32_t edge_count = 0;
  std::uint32_t predecessors = 0;
  const std::uint32_t index;

  // Per run, with no reset between runs: a run counts `pending` down from
  // `predecessors` to 0 or up from 0 to `predecessors`, alternately (every
  // run visits every node, so each leaves it where the next one starts).
  // upstream_failed is cleared after a run that set it. state is written by
  // every run and read by run()'s caller after the run's wait.
  std::atomic<std::uint32_t> pending{0};
  std::atomic<bool> upstream_failed{false};
  node_state state = node_state::not_run;
};

}  // namespace tbbx::detail

#endif  // TBBX_SCHEDULER_DETAIL_GRAPH_NODE_H_
