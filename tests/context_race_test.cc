// SPDX-License-Identifier: Apache-2.0
// Races on the context tree: concurrent creation, cancellation and lookup
// from many threads, and a random-tree stress test (0 missed cancels).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <random>
#include <stdexcept>
#include <vector>

#include "tbbx/context/context.h"
#include "test_support.h"

namespace {

using tbbx::background;
using tbbx::context;
using tbbx::testing::run_together;
using tbbx::testing::under_sanitizer;

TEST(ContextRace, ChildrenCreatedDuringTheParentsCancelAreNeverMissed) {
  const int rounds = under_sanitizer ? 20 : 200;
  for (int round = 0; round < rounds; ++round) {
    auto parent_c = tbbx::with_cancel(background());
    auto& parent = parent_c.ctx;
    auto& cancel = parent_c.cancel;
    std::vector<std::vector<context>> made(4);
    run_together(5, [&](int t) {
      if (t == 4) {
        cancel();
        return;
      }
      for (int i = 0; i < 200; ++i) {
        made[t].push_back(tbbx::with_cancel(parent).ctx);  // handle kept
        auto [child, cancel_child] = tbbx::with_cancel(parent);
        cancel_child.release();
        made[t].push_back(child);
      }
    });
    for (auto& list : made) {
      for (auto& ctx : list) ASSERT_TRUE(ctx.done());
    }
  }
}

// Waiters register (under the node's lock) while the cancel marks the
// node and its child: every one of them must be woken, whichever comes
// first. A lost wake-up shows as a wait that times out.
TEST(ContextRace, WaitersRacingACancelAreAllWoken) {
  const int rounds = under_sanitizer ? 50 : 500;
  for (int round = 0; round < rounds; ++round) {
    // Not a structured binding: clang 14 cannot capture one in a lambda.
    auto parent_c = tbbx::with_cancel(background());
    const context& parent = parent_c.ctx;
    auto& cancel = parent_c.cancel;
    const context child = tbbx::with_cancel(parent).ctx;
    std::atomic<int> woken{0};
    run_together(4, [&](int t) {
      if (t == 3) {
        cancel();
        return;
      }
      const context& ctx = t == 0 ? parent : child;
      if (ctx.wait_for(std::chrono::seconds(30))) woken.fetch_add(1);
    });
    ASSERT_EQ(woken.load(), 3) << "round " << round;
    ASSERT_TRUE(child.done());
  }
}

TEST(ContextRace, ConcurrentCancelsAgreeOnOneCause) {
  for (int round = 0; round < 100; ++round) {
    auto ctx_c = tbbx::with_cancel(background());
    auto& ctx = ctx_c.ctx;
    auto& cancel = ctx_c.cancel;
    auto [child, cancel_child] = tbbx::with_cancel(ctx);
    std::vector<std::exception_ptr> causes(4);
    for (auto& c : causes) {
      c = std::make_exception_ptr(std::runtime_error("one of four"));
    }
    run_together(4, [&](int t) { cancel(causes[t]); });
    int matches = 0;
    for (auto& c : causes) matches += ctx.cause() == c;
    EXPECT_EQ(matches, 1);
    EXPECT_EQ(child.cause(), ctx.cause());
  }
}

TEST(ContextRace, ValueLookupsRaceWithCreationAndCancel) {
  static const tbbx::context_key<int> key("k");
  auto root_c = tbbx::with_cancel(background());
  auto& root = root_c.ctx;
  auto& cancel = root_c.cancel;
  context valued = tbbx::with_value(root, key, 5);
  std::atomic<bool> stop{false};
  run_together(4, [&](int t) {
    if (t == 0) {
      for (int i = 0; i < 2000; ++i) {
        auto [c, cc] = tbbx::with_cancel(valued);
        context v = tbbx::with_value(c, key, i);
        EXPECT_EQ(*v.value(key), i);
      }
      stop = true;
      cancel();
      return;
    }
    while (!stop.load()) {
      context copy = valued;
      ASSERT_EQ(*copy.value(key), 5);
      auto [c, cc] = tbbx::with_timeout(copy, std::chrono::hours(1));
      ASSERT_EQ(*c.value(key), 5);
    }
  });
  EXPECT_TRUE(valued.done());
}

// A random forest of contexts; threads cancel random nodes and add children
// to random nodes at the same time. Afterwards every node must be done
// exactly when it or one of its ancestors was canceled.
TEST(ContextRace, RandomTreesUnderConcurrentCancelsMissNothing) {
  const int trees = under_sanitizer ? 5 : 40;
  for (int tree = 0; tree < trees; ++tree) {
    struct entry {
      context ctx;
      int parent;
    };
    std::mutex mu;
    std::vector<entry> nodes;               // guarded by mu
    std::deque<tbbx::cancel_func> cancels;  // guarded by mu; stable refs
    std::vector<char> canceled;             // guarded by mu
    nodes.push_back({background(), -1});
    cancels.emplace_back();
    canceled.push_back(0);
    for (int i = 1; i < 300; ++i) {
      int p = static_cast<int>(std::mt19937(tree * 1000 + i)() % i);
      auto [c, cancel] = tbbx::with_cancel(nodes[p].ctx);
      nodes.push_back({c, p});
      cancels.push_back(std::move(cancel));
      canceled.push_back(0);
    }
    run_together(4, [&](int t) {
      std::mt19937 rng(tree * 7 + t);
      for (int op = 0; op < 300; ++op) {
        std::unique_lock lock(mu);
        const int n = static_cast<int>(nodes.size());
        const int pick = 1 + static_cast<int>(rng() % (n - 1));
        if (rng() % 3 == 0) {
          canceled[pick] = 1;
          const tbbx::cancel_func& cancel = cancels[pick];
          lock.unlock();  // cancel outside the test's lock
          cancel();
        } else {
          context parent = nodes[pick].ctx;
          lock.unlock();
          auto [c, cancel] = tbbx::with_cancel(parent);
          lock.lock();
          nodes.push_back({c, pick});
          cancels.push_back(std::move(cancel));
          canceled.push_back(0);
        }
      }
    });
    int missed = 0, spurious = 0;
    for (std::size_t i = 1; i < nodes.size(); ++i) {
      bool expect = false;
      for (int a = static_cast<int>(i); a > 0; a = nodes[a].parent) {
        expect = expect || canceled[a];
      }
      missed += expect && !nodes[i].ctx.done();
      spurious += !expect && nodes[i].ctx.done();
    }
    ASSERT_EQ(missed, 0) << "tree " << tree;
    ASSERT_EQ(spurious, 0) << "tree " << tree;
    for (auto& c : cancels) c.release();  // the check is over
  }
}

}  // namespace
