// SPDX-License-Identifier: Apache-2.0
// Stress: random DAGs with failing nodes, both failure policies, and a
// context that is canceled or times out while the graph runs. Invariants:
//  - a node runs only once every predecessor has run and succeeded (under
//    fail_fast: no node runs after a predecessor failed or was skipped);
//  - afterwards every node reports a state consistent with what happened,
//    and run() throws when anything failed or was skipped.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "stress_support.h"
#include "tbbx/context/context.h"
#include "tbbx/scheduler/task_graph.h"

namespace {

using tbbx::node_state;
using tbbx::stress::chance;
using tbbx::stress::pick;

enum : int { not_run = 0, succeeded = 1, failed = 2 };

void round(std::uint64_t seed) {
  tbbx::stress::rng r(seed);
  const int n = 2 + pick(r, 150);
  const auto policy = chance(r, 50)
                          ? tbbx::failure_policy::fail_fast
                          : tbbx::failure_policy::continue_independent;
  std::vector<std::vector<int>> preds(n);
  std::vector<bool> fails(n);
  auto outcome = std::make_unique<std::atomic<int>[]>(n);
  std::atomic<int> violations{0};
  tbbx::task_graph g;
  std::vector<tbbx::task_node> nodes;
  for (int i = 0; i < n; ++i) {
    fails[i] = chance(r, 6);
    nodes.push_back(g.emplace([&, i](const tbbx::context& ctx) {
      for (int p : preds[i]) {
        if (outcome[p].load() != succeeded) violations++;
      }
      for (int spin = 0; spin < 20 && !ctx.done(); ++spin) {
        std::this_thread::yield();
      }
      if (fails[i]) {
        outcome[i] = failed;
        throw std::runtime_error("node failed");
      }
      outcome[i] = succeeded;
    }));
    for (int k = pick(r, 4); k > 0 && i > 0; --k) {
      const int p = pick(r, i);
      preds[i].push_back(p);
      nodes[p].precede(nodes[i]);
    }
  }
  auto [ctx, cancel] =
      chance(r, 20)
          ? tbbx::with_timeout(tbbx::background(),
                               std::chrono::microseconds(pick(r, 1000)))
          : tbbx::with_cancel(tbbx::background());
  const bool cancel_midway = chance(r, 20);
  const auto delay = std::chrono::microseconds(pick(r, 500));
  std::thread canceler([&, &c = cancel] {
    if (!cancel_midway) return;
    tbbx::testing::spin_for(delay);
    c();
  });
  bool threw = false;
  try {
    g.run(ctx, policy);
  } catch (...) {
    threw = true;
  }
  canceler.join();
  ASSERT_EQ(violations.load(), 0)
      << "a node ran although a predecessor had not succeeded";
  bool any_failed = false, any_skipped = false;
  for (int i = 0; i < n; ++i) {
    const node_state st = nodes[i].state();
    switch (st) {
      case node_state::done:
        ASSERT_EQ(outcome[i].load(), succeeded);
        break;
      case node_state::failed:
        ASSERT_EQ(outcome[i].load(), failed);
        any_failed = true;
        break;
      case node_state::skipped_upstream_failed:
        ASSERT_EQ(policy, tbbx::failure_policy::continue_independent);
        ASSERT_EQ(outcome[i].load(), not_run);
        any_skipped = true;
        break;
      case node_state::skipped_canceled:
        ASSERT_EQ(outcome[i].load(), not_run);
        any_skipped = true;
        break;
      case node_state::not_run:
        FAIL() << "node " << i << " was neither run nor skipped";
    }
  }
  if (any_failed || any_skipped) {
    ASSERT_TRUE(threw);
  }
}

TEST(GraphStress, RandomDagsWithFailuresAndCancels) {
  tbbx::stress::rounds("graph_stress", round);
}

}  // namespace
