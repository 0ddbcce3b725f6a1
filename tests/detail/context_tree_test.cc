// SPDX-License-Identifier: Apache-2.0
// White-box tests of the context tree: children unlink when they end or are
// dropped, and chains of any depth use bounded stack.
#include <gtest/gtest.h>

#include <vector>

#include "tbbx/context/context.h"
#include "tbbx/context/detail/node.h"

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

}  // namespace
