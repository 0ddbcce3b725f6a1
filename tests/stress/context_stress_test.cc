// SPDX-License-Identifier: Apache-2.0
// Stress: random context trees raced by cancels, deadlines, new children,
// callback registration and removal, and timed waits. Invariants:
//  - when a cancel (or a deadline's firing) returns, every context below
//    the canceled one is done (cancel is complete when it returns);
//  - err() and cause() never change once set, and no deadline fires early;
//  - every on_done callback runs exactly once, or never after its
//    registration was reset;
//  - a timed wait returns true only when the context is done, and false
//    only once its time has passed.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "stress_support.h"
#include "tbbx/context/callbacks.h"
#include "tbbx/context/context.h"

namespace {

using namespace std::chrono_literals;
using tbbx::context;
using tbbx::stress::chance;
using tbbx::stress::pick;

enum class kind { cancel, timeout, value, detached };

struct model_node {
  context ctx;
  tbbx::cancel_func cancel;  // empty for value and detached nodes
  int parent = -1;
  kind k = kind::cancel;
  std::vector<int> children;
};

struct registration {
  std::optional<tbbx::callback_registration> reg;
  int node = 0;
  std::atomic<int> runs{0};
  int runs_at_reset = -1;  // set by the owning thread when it resets
};

const tbbx::context_key<int> kKey("stress");

// reachable lists `from` and every model node a cancel of `from` must reach
// (not through a detached node, which is a new root for cancellation).
void reachable(const std::vector<model_node>& m, int from,
               std::vector<int>& out) {
  out.push_back(from);
  for (int c : m[from].children) {
    if (m[c].k != kind::detached) reachable(m, c, out);
  }
}

void round(std::uint64_t seed) {
  tbbx::stress::rng r(seed);
  const int n = 20 + pick(r, 300);
  std::vector<model_node> m(n);
  {
    auto [root, cancel_root] = tbbx::with_cancel(tbbx::background());
    m[0].ctx = root;
    m[0].cancel = std::move(cancel_root);
  }
  for (int i = 1; i < n; ++i) {
    const int p = pick(r, i);
    m[i].parent = p;
    m[p].children.push_back(i);
    const int roll = pick(r, 100);
    if (roll < 50) {
      auto [c, k] = tbbx::with_cancel(m[p].ctx);
      m[i].ctx = c;
      m[i].cancel = std::move(k);
      m[i].k = kind::cancel;
    } else if (roll < 70) {
      auto [c, k] = tbbx::with_timeout(
          m[p].ctx, std::chrono::microseconds(pick(r, 3000)));
      m[i].ctx = c;
      m[i].cancel = std::move(k);
      m[i].k = kind::timeout;
    } else if (roll < 93) {
      m[i].ctx = tbbx::with_value(m[p].ctx, kKey, i);
      m[i].k = kind::value;
    } else {
      m[i].ctx = tbbx::without_cancel(m[p].ctx);
      m[i].k = kind::detached;
    }
  }
  constexpr int kThreads = 4;
  std::vector<std::unique_ptr<registration>> regs;
  for (int i = 0; i < 4 * n; ++i) {
    regs.push_back(std::make_unique<registration>());
    regs.back()->node = pick(r, n);
  }
  for (auto& reg : regs) {
    registration* raw = reg.get();
    reg->reg.emplace(tbbx::on_done(m[reg->node].ctx, [raw] { raw->runs++; }));
  }
  // First observations of (err, cause), per node, written by whoever sees
  // the node done first.
  struct seen_end {
    std::atomic<bool> set{false};
    std::error_code err;
    std::exception_ptr cause;
  };
  std::vector<seen_end> seen(n);
  auto observe = [&](int i) {
    const context& c = m[i].ctx;
    if (!c.done()) return;
    const std::error_code err = c.err();
    if (err == tbbx::errc::deadline_exceeded) {  // never early
      EXPECT_GE(tbbx::stress::Clock::now(), *c.deadline()) << "node " << i;
    }
    const std::exception_ptr cause = c.cause();
    bool expected = false;
    if (seen[i].set.compare_exchange_strong(expected, true)) {
      seen[i].err = err;
      seen[i].cause = cause;
    }
  };

  const std::uint64_t thread_seed = r();
  tbbx::testing::run_together(kThreads, [&](int t) {
    tbbx::stress::rng tr(thread_seed + t);
    std::vector<int> reach;
    std::vector<tbbx::cancelable_context> extra;
    for (int op = 0; op < 200; ++op) {
      const int i = pick(tr, n);
      switch (pick(tr, 6)) {
        case 0:
        case 1: {  // cancel, then everything below must be done
          if (m[i].k != kind::cancel && m[i].k != kind::timeout) break;
          if (i % kThreads != t) break;  // each cancel_func has one owner
          m[i].cancel();
          reach.clear();
          reachable(m, i, reach);
          for (int d : reach) {
            ASSERT_TRUE(m[d].ctx.done())
                << "node " << d << " not done after cancel of " << i
                << " returned";
          }
          break;
        }
        case 2: {  // a new child: done at once if its parent is
          const bool parent_done = m[i].ctx.done();
          extra.push_back(tbbx::with_cancel(m[i].ctx));
          if (parent_done && m[i].k != kind::detached) {
            ASSERT_TRUE(extra.back().ctx.done());
          }
          if (chance(tr, 50)) extra.back().cancel();
          break;
        }
        case 3: {  // reset a registration this thread owns
          const int k = pick(tr, static_cast<int>(regs.size()));
          if (k % kThreads != t || !regs[k]->reg) break;
          regs[k]->reg->reset();
          regs[k]->runs_at_reset = regs[k]->runs.load();
          regs[k]->reg.reset();
          break;
        }
        case 4: {  // true means done; false means the time has passed
          const auto limit = std::chrono::microseconds(pick(tr, 200));
          const auto start = tbbx::stress::Clock::now();
          const bool done = m[i].ctx.wait_for(limit);
          if (done) {
            ASSERT_TRUE(m[i].ctx.done());
          } else {
            ASSERT_GE(tbbx::stress::Clock::now() - start, limit);
          }
          observe(i);
          break;
        }
        case 5:
          observe(i);
          if (m[i].k == kind::value) {
            ASSERT_EQ(*m[i].ctx.value(kKey), i);
          }
          break;
      }
    }
  });
  if (::testing::Test::HasFailure()) return;

  // Cancel the root: every context not behind a detached one is done, and
  // every callback has run once, or never after its reset.
  m[0].cancel();
  std::vector<int> all;
  reachable(m, 0, all);
  for (int d : all) ASSERT_TRUE(m[d].ctx.done()) << "node " << d;
  for (int i = 0; i < n; ++i) {
    observe(i);
    if (seen[i].set.load()) {
      ASSERT_EQ(m[i].ctx.err(), seen[i].err) << "err of " << i << " changed";
      ASSERT_EQ(m[i].ctx.cause(), seen[i].cause)
          << "cause of " << i << " changed";
    }
  }
  for (auto& reg : regs) {
    if (reg->runs_at_reset >= 0) {
      ASSERT_LE(reg->runs_at_reset, 1);
      ASSERT_EQ(reg->runs.load(), reg->runs_at_reset)
          << "a callback ran after its registration was reset";
    } else if (m[reg->node].ctx.done()) {
      // Deadline callbacks run on the deferred runner: give it a moment.
      ASSERT_TRUE(tbbx::testing::eventually([&] { return reg->runs == 1; }))
          << "callback on node " << reg->node << " ran " << reg->runs.load()
          << " times";
    } else {
      ASSERT_EQ(reg->runs.load(), 0);
    }
  }
  for (auto& reg : regs) reg->reg.reset();
  for (auto& reg : regs) ASSERT_LE(reg->runs.load(), 1);
}

TEST(ContextStress, RandomTreesUnderRacingCancels) {
  tbbx::stress::rounds("context_stress", round);
}

}  // namespace
