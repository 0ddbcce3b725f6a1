// SPDX-License-Identifier: Apache-2.0
// White-box: which groups sit in their parent's children list, and when
// they leave it (group_core.h, "Lifetimes").
#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <optional>

#include "tbbx/context/context.h"
#include "tbbx/context/detail/tree.h"
#include "tbbx/context/tbb_context.h"
#include "tbbx/patterns/error_group.h"

namespace {

using namespace std::chrono_literals;

using tbbx::background;
using tbbx::context;
using tbbx::error_group;

// live_children counts the groups and contexts linked under a group.
std::size_t live_children(const error_group& g) {
  return tbbx::detail::tree::live_children(
      tbbx::detail::context_access::tree(g.get_context()));
}

// A nested group whose values come from background() (its root group's
// context is background() or a chain of with_cancel above it) leaves its
// parent's children list as its wait() ends, in the same hold of its lock
// that ends it; one that borrows a node that holds a value or a deadline
// stays linked until it is destroyed, so that the parent's end can hand it
// a reference. Either way the parent ends up with no children left over.
TEST(GroupTree, AWaitedGroupLeavesItsParentAtOnceOrWhenDestroyed) {
  static const tbbx::context_key<int> key("k");
  enum class root_kind { background, canceled_chain, valued, timed };
  for (root_kind kind : {root_kind::background, root_kind::canceled_chain,
                         root_kind::valued, root_kind::timed}) {
    SCOPED_TRACE(static_cast<int>(kind));
    std::optional<tbbx::cancelable_context> c1, c2;
    context root = background();
    if (kind == root_kind::canceled_chain) {
      c1 = tbbx::with_cancel(background());
      c2 = tbbx::with_cancel(c1->ctx);
      root = c2->ctx;
    } else if (kind == root_kind::valued) {
      root = tbbx::with_value(background(), key, 1);
    } else if (kind == root_kind::timed) {
      c1 = tbbx::with_timeout(background(), 1h);
      root = c1->ctx;
    }
    const bool stays = kind == root_kind::valued || kind == root_kind::timed;
    error_group parent(root);
    std::size_t linked_before = 0, linked_after_wait = 0,
                linked_after_destroy = 0;
    parent.go([&] {
      {
        error_group inner(tbbx::this_task::get_context());
        inner.go([] {});
        linked_before = live_children(parent);
        inner.wait();
        EXPECT_TRUE(inner.get_context().done());
        linked_after_wait = live_children(parent);
      }
      linked_after_destroy = live_children(parent);
    });
    parent.wait();
    EXPECT_EQ(linked_before, 1u);
    EXPECT_EQ(linked_after_wait, stays ? 1u : 0u);
    EXPECT_EQ(linked_after_destroy, 0u);
  }
}

// A group with a live child when its wait() ends (a context derived from
// it, held on) takes the whole cancel walk before it leaves: the child
// ends with the group's cause.
TEST(GroupTree, AGroupWithALiveChildEndsItBeforeLeaving) {
  error_group parent;
  parent.go([&] {
    error_group inner(tbbx::this_task::get_context());
    std::optional<tbbx::cancelable_context> derived;
    inner.go([&](const context& ctx) { derived = tbbx::with_cancel(ctx); });
    inner.wait();
    ASSERT_TRUE(derived.has_value());
    EXPECT_TRUE(derived->ctx.done());
    EXPECT_THROW(std::rethrow_exception(derived->ctx.cause()),
                 tbbx::canceled_error);
    EXPECT_EQ(live_children(parent), 0u);
  });
  parent.wait();
}

}  // namespace
