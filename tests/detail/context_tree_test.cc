// SPDX-License-Identifier: Apache-2.0
// White-box tests of the context tree: children unlink when they end or are
// dropped, chains of any depth use bounded stack, and a big tree's cancel
// (walked by several cursors) completes every node under racing cancels,
// drops and waits.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <random>
#include <stdexcept>
#include <vector>

#include "tbbx/context/callbacks.h"
#include "tbbx/context/context.h"
#include "tbbx/context/detail/node.h"
#include "test_support.h"

namespace {

using namespace std::chrono_literals;
using tbbx::background;
using tbbx::context;
using tbbx::detail::context_access;
using tbbx::detail::live_child_count;

std::size_t children_of(const context& ctx) {
  return live_child_count(context_access::get(ctx));
}

TEST(ContextTree, LongLivedParentDoesNotAccumulateCanceledChildren) {
  auto [parent, cancel] = tbbx::with_cancel(background());
  for (int i = 0; i < 200'000; ++i) {
    auto [child, cancel_child] = tbbx::with_cancel(parent);
    if (i % 2 == 0) cancel_child();
  }
  EXPECT_EQ(children_of(parent), 0u);
}

TEST(ContextTree, DroppedChildrenUnlinkEvenWhenNotCanceled) {
  static const tbbx::context_key<int> key("k");
  auto [parent, cancel] = tbbx::with_cancel(background());
  for (int i = 0; i < 100'000; ++i) {
    auto [child, cancel_child] = tbbx::with_cancel(parent);
    cancel_child.release();  // dropping the handle is then the only end
    context valued = tbbx::with_value(parent, key, i);
    auto [timed, cancel_timed] = tbbx::with_timeout(parent, 1h);
  }
  EXPECT_EQ(children_of(parent), 0u);
}

TEST(ContextTree, LiveChildrenStayLinkedUntilTheyEnd) {
  auto [parent, cancel] = tbbx::with_cancel(background());
  std::vector<tbbx::cancelable_context> kids;
  for (int i = 0; i < 10; ++i) kids.push_back(tbbx::with_cancel(parent));
  EXPECT_EQ(children_of(parent), 10u);
  kids[3].cancel();
  EXPECT_EQ(children_of(parent), 9u);
  cancel();
  EXPECT_EQ(children_of(parent), 0u);
  for (auto& k : kids) EXPECT_TRUE(k.ctx.done());
}

TEST(ContextTree, DeepChainCancelsAndDiesWithBoundedStack) {
  constexpr int kDepth = 200'000;
  auto [root, cancel_root] = tbbx::with_cancel(background());
  std::vector<tbbx::cancel_func> cancels;
  cancels.reserve(kDepth);
  context leaf = root;
  for (int i = 0; i < kDepth; ++i) {
    auto [child, cancel_child] = tbbx::with_cancel(leaf);
    leaf = child;
    cancels.push_back(std::move(cancel_child));
  }
  EXPECT_FALSE(leaf.done());
  cancel_root();
  EXPECT_TRUE(leaf.done());
  cancels.clear();
  leaf = background();  // the chain is freed iteratively
}

TEST(ContextTree, DeepChainDroppedFromTheLeafDiesWithBoundedStack) {
  static const tbbx::context_key<int> key("depth");
  constexpr int kDepth = 200'000;
  context leaf = background();
  for (int i = 0; i < kDepth; ++i) {
    if (i % 2 == 0) {
      leaf = tbbx::with_value(leaf, key, i);
    } else {
      auto [child, cancel_child] = tbbx::with_cancel(leaf);
      cancel_child.release();
      leaf = child;
    }
  }
  EXPECT_EQ(*leaf.value(key), kDepth - 2);
  leaf = background();
}

// A random tree (each node under a uniformly chosen earlier one): its
// subtrees are big and scattered, so a cancel of the root takes the walk's
// many-cursor path, with nodes left to the cursors below them and idle
// cursors taking children of open nodes.
struct random_tree {
  explicit random_tree(std::size_t n, std::uint64_t seed) : parent(n, 0) {
    std::mt19937_64 rng(seed);
    auto [root, cancel_root] = tbbx::with_cancel(background());
    nodes.push_back({root, std::move(cancel_root)});
    for (std::size_t i = 1; i < n; ++i) {
      parent[i] = rng() % i;
      nodes.push_back(tbbx::with_cancel(nodes[parent[i]].ctx));
    }
  }
  // below[i]: whether `top` is i or an ancestor of it.
  std::vector<bool> subtree_of(std::size_t top) const {
    std::vector<bool> below(parent.size(), false);
    below[top] = true;
    for (std::size_t i = top + 1; i < parent.size(); ++i) {
      below[i] = below[parent[i]];
    }
    return below;
  }
  std::vector<tbbx::cancelable_context> nodes;
  std::vector<std::size_t> parent;
};

TEST(ContextTree, BigRandomTreeCancelCompletesEveryNodeWithItsCause) {
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    random_tree t(50'000, seed);
    std::vector<std::unique_ptr<std::atomic<int>>> runs;
    std::vector<tbbx::callback_registration> regs;
    for (std::size_t i = 0; i < t.nodes.size(); i += 97) {
      runs.push_back(std::make_unique<std::atomic<int>>(0));
      std::atomic<int>* r = runs.back().get();
      regs.push_back(tbbx::on_done(t.nodes[i].ctx, [r] { ++*r; }));
    }
    // An inner subtree first: the root's walk then meets done nodes.
    const std::size_t inner = t.nodes.size() / 3;
    const auto inner_below = t.subtree_of(inner);
    t.nodes[inner].cancel();
    for (std::size_t i = 0; i < t.nodes.size(); ++i) {
      if (inner_below[i]) {
        ASSERT_TRUE(t.nodes[i].ctx.done()) << i;
      }
    }
    const auto cause = std::make_exception_ptr(std::runtime_error("root"));
    t.nodes[0].cancel(cause);
    for (std::size_t i = 0; i < t.nodes.size(); ++i) {
      ASSERT_TRUE(t.nodes[i].ctx.done()) << "node " << i;
      if (!inner_below[i]) {
        ASSERT_EQ(t.nodes[i].ctx.cause(), cause) << i;
      }
    }
    for (auto& r : runs) EXPECT_EQ(r->load(), 1);
    EXPECT_EQ(children_of(t.nodes[0].ctx), 0u);
  }
}

TEST(ContextTree, BigRandomTreeCancelRacesInnerCancelsDropsAndWaits) {
  constexpr std::size_t kNodes = 20'000;
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    random_tree t(kNodes, seed);
    // Handles that other threads drop or cancel during the root's cancel.
    std::vector<context> dropped(kNodes);
    std::vector<tbbx::cancel_func> owned(kNodes);
    for (std::size_t i = 1; i < kNodes; ++i) {
      if (i % 3 == 0) {
        dropped[i] = std::move(t.nodes[i].ctx);
        t.nodes[i].ctx = background();
        owned[i] = std::move(t.nodes[i].cancel);
      }
    }
    std::atomic<int> waited{0};
    tbbx::testing::run_together(4, [&](int who) {
      std::mt19937_64 rng(seed * 10 + static_cast<unsigned>(who));
      if (who == 0) {
        t.nodes[0].cancel();
        for (std::size_t i = 0; i < kNodes; ++i) {
          if (i % 3 != 0) {
            ASSERT_TRUE(t.nodes[i].ctx.done()) << i;
          }
        }
      } else if (who == 1) {
        // Inner cancels: each is complete when it returns.
        for (std::size_t i = 3; i < kNodes; i += 3 * 7) {
          owned[i]();
          ASSERT_TRUE(dropped[i].done());
        }
      } else if (who == 2) {
        // Drops: a node may die while the walk reaches it.
        for (std::size_t i = 6; i < kNodes; i += 3) {
          if (i % (3 * 7) == 3) continue;  // thread 1's
          owned[i] = tbbx::cancel_func();
          dropped[i] = context();
        }
      } else {
        for (std::size_t i = 1; i < kNodes; i += 211) {
          if (i % 3 != 0) {
            t.nodes[i].ctx.wait();
            ++waited;
          }
        }
      }
    });
    EXPECT_GT(waited.load(), 0);
    for (std::size_t i = 0; i < kNodes; ++i) {
      if (i % 3 != 0) {
        ASSERT_TRUE(t.nodes[i].ctx.done()) << i;
      }
    }
  }
}

}  // namespace
