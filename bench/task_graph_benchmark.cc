// SPDX-License-Identifier: Apache-2.0
// tbbx::task_graph beside tbb::flow::graph (continue_node) on the same DAG
// shapes, each built once and run many times:
//   FanOut   one root, 100,000 children
//   Chain    100,000 nodes in a line
//   Layered  100 layers of 1,000 nodes, each with 3 random predecessors in
//            the layer above (a random layered DAG of 10^5 nodes)
// Bodies are empty: the counter sec_per_node is the per-node overhead of
// the scheduler (SI suffix: 55n = 55 ns).
#include <benchmark/benchmark.h>
#include <oneapi/tbb/flow_graph.h>

#include <memory>
#include <random>
#include <vector>

#include "tbbx/tbbx.h"

namespace {

constexpr int kNodes = 100'000;
constexpr int kLayers = 100;

enum shape { fan_out = 0, chain = 1, layered = 2 };

// edges lists (from, to) pairs of each shape over kNodes nodes.
std::vector<std::pair<int, int>> edges_of(shape s) {
  std::vector<std::pair<int, int>> edges;
  const int width = kNodes / kLayers;
  std::mt19937 rng(42);
  switch (s) {
    case fan_out:
      for (int i = 1; i < kNodes; ++i) edges.emplace_back(0, i);
      break;
    case chain:
      for (int i = 1; i < kNodes; ++i) edges.emplace_back(i - 1, i);
      break;
    case layered:
      for (int layer = 1; layer < kLayers; ++layer) {
        for (int w = 0; w < width; ++w) {
          for (int k = 0; k < 3; ++k) {
            edges.emplace_back(
                (layer - 1) * width + static_cast<int>(rng() % width),
                layer * width + w);
          }
        }
      }
      break;
  }
  return edges;
}

void set_per_node(benchmark::State& state) {
  state.counters["sec_per_node"] = benchmark::Counter(
      static_cast<double>(kNodes) * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_TbbxTaskGraph(benchmark::State& state) {
  const auto s = static_cast<shape>(state.range(0));
  tbbx::task_graph g;
  std::vector<tbbx::task_node> nodes;
  nodes.reserve(kNodes);
  for (int i = 0; i < kNodes; ++i) nodes.push_back(g.emplace([] {}));
  for (auto [from, to] : edges_of(s)) nodes[from].precede(nodes[to]);
  g.run(tbbx::background());  // validated once, outside the timing
  for (auto _ : state) g.run(tbbx::background());
  set_per_node(state);
}
BENCHMARK(BM_TbbxTaskGraph)
    ->ArgName("shape")
    ->DenseRange(0, 2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_TbbFlowGraph(benchmark::State& state) {
  using tbb::flow::continue_msg;
  using tbb::flow::continue_node;
  const auto s = static_cast<shape>(state.range(0));
  tbb::flow::graph g;
  std::vector<std::unique_ptr<continue_node<continue_msg>>> nodes;
  nodes.reserve(kNodes);
  for (int i = 0; i < kNodes; ++i) {
    nodes.push_back(std::make_unique<continue_node<continue_msg>>(
        g, [](const continue_msg&) {}));
  }
  std::vector<bool> has_predecessor(kNodes, false);
  for (auto [from, to] : edges_of(s)) {
    tbb::flow::make_edge(*nodes[from], *nodes[to]);
    has_predecessor[to] = true;
  }
  std::vector<continue_node<continue_msg>*> roots;
  for (int i = 0; i < kNodes; ++i) {
    if (!has_predecessor[i]) roots.push_back(nodes[i].get());
  }
  for (auto _ : state) {
    for (auto* root : roots) root->try_put(continue_msg());
    g.wait_for_all();
  }
  set_per_node(state);
}
BENCHMARK(BM_TbbFlowGraph)
    ->ArgName("shape")
    ->DenseRange(0, 2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
