// SPDX-License-Identifier: Apache-2.0
// Nested spawning: trees of groups that fail, cancel and finish together.
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <latch>
#include <memory>
#include <stdexcept>
#include <thread>

#include "tbbx/context/algorithms.h"
#include "tbbx/context/tbb_context.h"
#include "tbbx/patterns/error_group.h"
#include "test_support.h"

namespace {

using namespace std::chrono_literals;

using tbbx::background;
using tbbx::context;
using tbbx::error_group;

struct leaf_failed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

long fib(int n) {
  if (n < 2) return n;
  long a = 0, b = 0;
  error_group g(tbbx::this_task::get_context());
  g.go([&] { a = fib(n - 1); });
  g.go([&] { b = fib(n - 2); });
  g.wait();
  return a + b;
}

TEST(NestedGroups, RecursiveFibWithAGroupPerCall) {
  error_group root;
  long result = 0;
  root.go([&] { result = fib(20); });  // 10,945 groups, 21,890 tasks
  root.wait();
  EXPECT_EQ(result, 6765);
}

// A binary tree of groups, 2^16 leaves: every task runs exactly once.
TEST(NestedGroups, TreeOfAHundredThousandTasks) {
  std::atomic<long> leaves{0};
  std::function<void(const context&, int)> grow = [&](const context& ctx,
                                                      int depth) {
    if (depth == 16) {
      leaves++;
      return;
    }
    error_group g(ctx);
    g.go([&](const context& c) { grow(c, depth + 1); });
    g.go([&](const context& c) { grow(c, depth + 1); });
    g.wait();
  };
  error_group root;
  root.go([&](const context& ctx) { grow(ctx, 0); });
  root.wait();
  EXPECT_EQ(leaves.load(), 1L << 16);
}

// An error in one leaf cancels the whole tree: leaves that have not started
// are skipped, running ones see their context end, and the error surfaces
// at the root's wait().
TEST(NestedGroups, AnErrorDeepInTheTreeCancelsTheWholeTree) {
  std::atomic<long> leaves_run{0};
  std::atomic<long> leaves_saw_cancel{0};
  std::function<void(const context&, int, long)> grow =
      [&](const context& ctx, int depth, long id) {
        if (depth == 14) {
          if (id == (1 << 14) + 1234) throw leaf_failed("leaf 1234");
          leaves_run++;
          // Long enough that the failure lands while most leaves wait.
          for (int i = 0; i < 200 && !ctx.done(); ++i) {
            std::this_thread::yield();
          }
          if (ctx.done()) leaves_saw_cancel++;
          return;
        }
        error_group g(ctx);
        g.go([&, id](const context& c) { grow(c, depth + 1, 2 * id); });
        g.go([&, id](const context& c) { grow(c, depth + 1, 2 * id + 1); });
        g.wait();
      };
  error_group root;
  root.go([&](const context& ctx) { grow(ctx, 0, 1); });
  try {
    root.wait();
    FAIL() << "the tree completed";
  } catch (const leaf_failed& e) {
    EXPECT_STREQ(e.what(), "leaf 1234");
  }
  EXPECT_LT(leaves_run.load(), (1L << 14) - 1);  // cut short
  EXPECT_TRUE(root.get_context().done());
}

TEST(NestedGroups, NestedGroupIsCanceledWithItsParent) {
  auto [parent, cancel] = tbbx::with_cancel(background());
  error_group outer(parent);
  std::latch inner_running(1);
  std::atomic<bool> inner_saw_cancel{false};
  outer.go([&] {
    error_group inner(tbbx::this_task::get_context());
    inner.go([&](const context& ctx) {
      inner_running.count_down();
      while (!ctx.done()) std::this_thread::yield();
      inner_saw_cancel = true;
    });
    inner.wait();
  });
  inner_running.wait();
  cancel();
  // The task saw the end and returned normally, so wait() does too; only
  // skipped tasks or errors make it throw (Go's Wait returns nil here).
  outer.wait();
  EXPECT_TRUE(inner_saw_cancel.load());
  EXPECT_TRUE(outer.get_context().done());
}

TEST(NestedGroups, NestedFailureStaysInsideWhenTheTaskHandlesIt) {
  error_group outer;
  std::atomic<int> sibling_ran{0};
  outer.go([&] {
    error_group inner(tbbx::this_task::get_context());
    inner.go([] { throw leaf_failed("inner"); });
    try {
      inner.wait();
    } catch (const leaf_failed&) {
      // handled: the outer group is not affected
    }
  });
  outer.go([&] { sibling_ran++; });
  outer.wait();
  EXPECT_EQ(sibling_ran.load(), 1);
  EXPECT_TRUE(outer.errors().empty());
}

// A group nested under a group that is already done (as when a sibling's
// error canceled it) still yields a real context when a handle needs one.
TEST(NestedGroups, ANestedGroupUnderADoneGroupHasARealContext) {
  static const tbbx::context_key<int> key("k");
  auto [parent, cancel] =
      tbbx::with_cancel(tbbx::with_value(background(), key, 3));
  cancel();
  error_group outer(parent);
  error_group inner(outer.get_context());
  context copy = inner.get_context();  // materializes a node
  EXPECT_TRUE(copy.done());
  EXPECT_EQ(*copy.value(key), 3);
  auto [derived, cancel_derived] = tbbx::with_cancel(inner.get_context());
  EXPECT_TRUE(derived.done());
  inner.wait();  // nothing ran and nothing was skipped: no error
}

TEST(NestedGroups, LimitUnderNesting) {
  error_group outer;
  outer.set_limit(2);
  std::atomic<int> running{0};
  std::atomic<int> peak{0};
  std::atomic<int> leaves{0};
  for (int i = 0; i < 8; ++i) {
    outer.go([&] {
      error_group inner(tbbx::this_task::get_context(), {.limit = 2});
      for (int j = 0; j < 8; ++j) {
        inner.go([&] {
          int now = ++running;
          int seen = peak.load();
          while (now > seen && !peak.compare_exchange_weak(seen, now)) {
          }
          leaves++;
          --running;
        });
        // go() at the outer limit from inside an outer task runs inline.
        outer.go([] {});
      }
      inner.wait();
    });
  }
  outer.wait();
  EXPECT_EQ(leaves.load(), 64);
  EXPECT_LE(peak.load(), 4);  // two outer tasks, each with two inner
}

// A nested group that outlives the task (and the group) that made it keeps
// working: the parent hands it its node when it dies.
TEST(NestedGroups, ANestedGroupMayOutliveItsParent) {
  static const tbbx::context_key<int> key("k");
  context valued = tbbx::with_value(background(), key, 7);
  std::unique_ptr<error_group> escaped;
  {
    error_group parent(valued);
    parent.go([&] {
      escaped = std::make_unique<error_group>(tbbx::this_task::get_context());
    });
    parent.wait();
  }  // the parent is gone; the escaped group is done with it
  ASSERT_TRUE(escaped->get_context().done());
  EXPECT_EQ(*escaped->get_context().value(key), 7);
  context copy =
      escaped->get_context();  // materializes under the parent's node
  EXPECT_TRUE(copy.done());
  escaped->go([] { FAIL() << "ran in a done group"; });  // skipped
  EXPECT_EQ(escaped->skipped(), 1u);
  EXPECT_THROW(escaped->wait(), tbbx::canceled_error);
  escaped.reset();
  EXPECT_TRUE(copy.done());
  EXPECT_EQ(*copy.value(key), 7);
}

// A group under with_cancel contexts looks values and the deadline up
// past them (they hold neither), and finds what a context derived from
// the same parent finds.
TEST(NestedGroups, ValuesAndDeadlineSeenThroughCancelContexts) {
  static const tbbx::context_key<int> key("k");
  auto timed = tbbx::with_timeout(background(), 1h);
  context valued = tbbx::with_value(timed.ctx, key, 7);
  auto c1 = tbbx::with_cancel(valued);
  auto c2 = tbbx::with_cancel(c1.ctx);
  error_group root(c2.ctx);
  ASSERT_TRUE(root.get_context().value(key));
  EXPECT_EQ(*root.get_context().value(key), 7);
  EXPECT_EQ(root.get_context().deadline(), timed.ctx.deadline());
  root.go([&](const context& ctx) {
    error_group inner(ctx);
    inner.go([&](const context& inner_ctx) {
      context copy = inner_ctx;  // a node of its own
      EXPECT_EQ(*copy.value(key), 7);
      EXPECT_EQ(copy.deadline(), timed.ctx.deadline());
      EXPECT_EQ(*inner_ctx.value(key), 7);
    });
    inner.wait();
  });
  root.wait();
  c1.cancel();  // the root group's context ended with its wait() already
  EXPECT_TRUE(root.get_context().done());
}

// A group that left its parent at wait() no longer depends on it: kept on
// the heap, it outlives the parent and still answers for its context.
TEST(NestedGroups, AGroupThatLeftAtWaitOutlivesItsParent) {
  std::unique_ptr<error_group> escaped;
  {
    error_group parent;
    parent.go([&] {
      escaped = std::make_unique<error_group>(tbbx::this_task::get_context());
      escaped->go([] { throw leaf_failed("inner"); });
      EXPECT_THROW(escaped->wait(), leaf_failed);
    });
    parent.wait();  // the inner error stayed inside: the task handled it
  }
  ASSERT_TRUE(escaped->get_context().done());
  EXPECT_THROW(std::rethrow_exception(escaped->get_context().cause()),
               leaf_failed);
  context copy = escaped->get_context();  // materialized after the parent
  EXPECT_TRUE(copy.done());
  escaped.reset();
  EXPECT_TRUE(copy.done());
}

// Defect: go() at the limit from an inner group's task, or from a
// tbbx::parallel_for body run by one of the group's tasks, waited for a
// slot held by the very task that waits for it.
TEST(NestedGroups, GoAtTheLimitFromAnInnerGroupsTaskRunsInline) {
  tbbx::testing::watchdog dog(60s, "go() at the limit from an inner group");
  error_group outer;
  outer.set_limit(1);
  std::atomic<int> ran{0};
  outer.go([&](const context& ctx) {
    error_group inner(ctx);
    for (int i = 0; i < 4; ++i) {
      inner.go([&] { outer.go([&] { ran++; }); });
    }
    inner.wait();
  });
  outer.wait();
  EXPECT_EQ(ran.load(), 4);
}

TEST(NestedGroups, GoAtTheLimitFromAnAlgorithmBodyRunsInline) {
  tbbx::testing::watchdog dog(60s, "go() at the limit from a parallel_for");
  error_group g;
  g.set_limit(1);
  std::atomic<int> ran{0};
  g.go([&](const context& ctx) {
    tbbx::parallel_for(ctx, 0, 64, [&](int) { g.go([&] { ran++; }); });
  });
  g.wait();
  EXPECT_EQ(ran.load(), 64);
}

// Defect: the group's context said E (the first error) while a copy made
// after the parent was canceled with P said P.
TEST(NestedGroups, EveryHandleOnAGroupsContextAgreesOnTheCause) {
  auto [parent, cancel_parent] = tbbx::with_cancel(background());
  error_group g(parent);
  std::latch failed(1);
  auto e = std::make_exception_ptr(leaf_failed("E"));
  g.go([&] {
    failed.count_down();
    std::rethrow_exception(e);
  });
  failed.wait();
  ASSERT_TRUE(
      tbbx::testing::eventually([&] { return g.get_context().done(); }));
  cancel_parent(std::make_exception_ptr(leaf_failed("P")));
  context copy = g.get_context();
  EXPECT_EQ(g.get_context().cause(), e);
  EXPECT_EQ(copy.cause(), e);
  EXPECT_EQ(copy, g.get_context());
  EXPECT_THROW(g.wait(), leaf_failed);
}

// Defect: a timed wait inside a task returned false early, woken by an
// ancestor's end before the group's context was marked.
TEST(NestedGroups, ATimedWaitReturnsExactlyWhenTheGroupIsDone) {
  auto [timed, cancel_timed] = tbbx::with_timeout(background(), 30ms);
  auto [parent, cancel_parent] = tbbx::with_cancel(timed);
  error_group g(parent);
  g.go([](const context& ctx) {
    const bool done = ctx.wait_for(10s);
    EXPECT_TRUE(done);
    EXPECT_TRUE(ctx.done());
    const bool copy_done = context(ctx).wait_for(10s);
    EXPECT_TRUE(copy_done);
  });
  g.wait();  // every task ran and none failed: nothing to report
}

}  // namespace
