// SPDX-License-Identifier: Apache-2.0
// Contract tests of tbbx::context (README "Contexts"): tree semantics, causes,
// deadlines, values and lifetimes. Public API only.
#include "tbbx/context/context.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "test_support.h"

namespace {

using namespace std::chrono_literals;
using tbbx::background;
using tbbx::context;
using tbbx::errc;
using tbbx::with_cancel;
using tbbx::with_deadline;
using tbbx::with_timeout;
using Clock = std::chrono::steady_clock;

template <class E>
bool cause_is(const context& ctx) {
  try {
    ctx.throw_if_done();
  } catch (const E&) {
    return true;
  } catch (...) {
  }
  return false;
}

TEST(Background, IsNeverDoneAndHasNothing) {
  context bg = background();
  EXPECT_FALSE(bg.done());
  EXPECT_EQ(bg.err(), std::error_code());
  EXPECT_EQ(bg.cause(), nullptr);
  EXPECT_FALSE(bg.deadline().has_value());
  EXPECT_NO_THROW(bg.throw_if_done());
  EXPECT_FALSE(bg.wait_for(1ms));
  EXPECT_EQ(bg, context());  // a default context is background()
}

TEST(WithCancel, CancelEndsTheContextWithCanceled) {
  auto [ctx, cancel] = with_cancel(background());
  EXPECT_FALSE(ctx.done());
  EXPECT_EQ(ctx.err(), std::error_code());
  cancel();
  EXPECT_TRUE(ctx.done());
  EXPECT_EQ(ctx.err(), make_error_code(errc::canceled));
  EXPECT_TRUE(ctx.err() == std::errc::operation_canceled);
  EXPECT_TRUE(cause_is<tbbx::canceled_error>(ctx));
  EXPECT_TRUE(ctx.wait_for(0s));
  ctx.wait();  // returns at once
}

TEST(WithCancel, FirstCancellationWins) {
  auto [ctx, cancel] = with_cancel(background());
  auto first = std::make_exception_ptr(std::runtime_error("first"));
  cancel(first);
  cancel(std::make_exception_ptr(std::runtime_error("second")));
  cancel();
  EXPECT_EQ(ctx.cause(), first);
  EXPECT_EQ(ctx.err(), make_error_code(errc::canceled));
}

TEST(WithCancel, CauseIsTheVeryExceptionPtrGiven) {
  auto [ctx, cancel] = with_cancel(background());
  auto cause = std::make_exception_ptr(std::logic_error("bad record 17"));
  cancel(cause);
  EXPECT_EQ(ctx.cause(), cause);
  EXPECT_THROW(ctx.throw_if_done(), std::logic_error);
}

TEST(WithCancel, NullCauseIsAPlainCancel) {
  auto [ctx, cancel] = with_cancel(background());
  cancel(nullptr);
  EXPECT_TRUE(cause_is<tbbx::canceled_error>(ctx));
}

TEST(WithCancel, DefaultCauseMessageIsGosString) {
  auto [ctx, cancel] = with_cancel(background());
  cancel();
  try {
    ctx.throw_if_done();
    FAIL();
  } catch (const tbbx::context_error& e) {
    EXPECT_STREQ(e.what(), "context canceled");
    EXPECT_EQ(e.code(), make_error_code(errc::canceled));
  }
}

TEST(Tree, ChildEndsWithParentWithTheSameErrAndCause) {
  auto [parent, cancel_parent] = with_cancel(background());
  auto [child, cancel_child] = with_cancel(parent);
  auto [grandchild, cancel_grandchild] = with_cancel(child);
  auto cause = std::make_exception_ptr(std::runtime_error("stop"));
  cancel_parent(cause);
  EXPECT_TRUE(child.done());
  EXPECT_TRUE(grandchild.done());
  EXPECT_EQ(child.cause(), cause);
  EXPECT_EQ(grandchild.cause(), cause);
  EXPECT_EQ(grandchild.err(), make_error_code(errc::canceled));
}

TEST(Tree, CancelingAChildTouchesNeitherParentNorSiblings) {
  auto [parent, cancel_parent] = with_cancel(background());
  auto [a, cancel_a] = with_cancel(parent);
  auto [b, cancel_b] = with_cancel(parent);
  auto [a_child, cancel_a_child] = with_cancel(a);
  cancel_a();
  EXPECT_TRUE(a.done());
  EXPECT_TRUE(a_child.done());
  EXPECT_FALSE(parent.done());
  EXPECT_FALSE(b.done());
}

TEST(Tree, ChildOfADoneParentIsDoneAtOnce) {
  auto [parent, cancel_parent] = with_cancel(background());
  auto cause = std::make_exception_ptr(std::runtime_error("gone"));
  cancel_parent(cause);
  auto [child, cancel_child] = with_cancel(parent);
  EXPECT_TRUE(child.done());
  EXPECT_EQ(child.cause(), cause);
  static const tbbx::context_key<int> key("k");
  context value_child = tbbx::with_value(parent, key, 1);
  EXPECT_TRUE(value_child.done());
}

TEST(CancelFunc, DestructorCancels) {
  context ctx;
  {
    auto [c, cancel] = with_cancel(background());
    ctx = c;
  }
  EXPECT_TRUE(ctx.done());
  EXPECT_EQ(ctx.err(), make_error_code(errc::canceled));
}

TEST(CancelFunc, ReleaseGivesUpTheRightToCancel) {
  auto [parent, cancel_parent] = with_cancel(background());
  context ctx;
  {
    auto [c, cancel] = with_cancel(parent);
    ctx = c;
    cancel.release();
    cancel();  // released: does nothing
  }
  EXPECT_FALSE(ctx.done());
  cancel_parent();  // still ends through its parent
  EXPECT_TRUE(ctx.done());
}

TEST(CancelFunc, MovedFromDoesNothing) {
  auto [ctx, cancel] = with_cancel(background());
  tbbx::cancel_func moved = std::move(cancel);
  cancel();  // NOLINT(bugprone-use-after-move): the contract under test
  EXPECT_FALSE(ctx.done());
  moved();
  EXPECT_TRUE(ctx.done());
  tbbx::cancel_func empty;
  empty();  // a default cancel_func does nothing either
}

TEST(CancelFunc, MoveAssignmentCancelsTheOverwrittenContext) {
  auto [a, cancel_a] = with_cancel(background());
  auto [b, cancel_b] = with_cancel(background());
  cancel_a = std::move(cancel_b);
  EXPECT_TRUE(a.done());
  EXPECT_FALSE(b.done());
  cancel_a();
  EXPECT_TRUE(b.done());
}

TEST(Deadline, PastDeadlineIsDoneAtOnce) {
  auto [ctx, cancel] = with_deadline(background(), Clock::now() - 1s);
  EXPECT_TRUE(ctx.done());
  EXPECT_EQ(ctx.err(), make_error_code(errc::deadline_exceeded));
  EXPECT_TRUE(ctx.err() == std::errc::timed_out);
  EXPECT_TRUE(cause_is<tbbx::deadline_exceeded_error>(ctx));
  auto [zero, cancel_zero] = with_timeout(background(), 0s);
  EXPECT_TRUE(zero.done());
}

TEST(Deadline, PastDeadlineKeepsTheGivenCause) {
  auto cause = std::make_exception_ptr(std::runtime_error("budget spent"));
  auto [ctx, cancel] = with_timeout(background(), -1ms, cause);
  EXPECT_EQ(ctx.cause(), cause);
  EXPECT_EQ(ctx.err(), make_error_code(errc::deadline_exceeded));
}

TEST(Deadline, FiresWithoutPolling) {
  auto cause = std::make_exception_ptr(std::runtime_error("too slow"));
  const auto start = Clock::now();
  auto [ctx, cancel] = with_timeout(background(), 20ms, cause);
  ASSERT_TRUE(ctx.deadline().has_value());
  ctx.wait();
  EXPECT_GE(Clock::now(), *ctx.deadline());
  EXPECT_GE(Clock::now() - start, 20ms);
  EXPECT_EQ(ctx.err(), make_error_code(errc::deadline_exceeded));
  EXPECT_EQ(ctx.cause(), cause);
}

TEST(Deadline, CancelBeforeTheDeadlineWins) {
  auto [ctx, cancel] = with_timeout(background(), 1h);
  cancel();
  EXPECT_EQ(ctx.err(), make_error_code(errc::canceled));
}

TEST(Deadline, ChildKeepsTheEarlierDeadline) {
  const auto soon = Clock::now() + 1h;
  const auto later = soon + 1h;
  auto [parent, cancel_parent] = with_deadline(background(), soon);
  auto [late_child, c1] = with_deadline(parent, later);
  auto [early_child, c2] = with_deadline(parent, soon - 30min);
  auto [plain_child, c3] = with_cancel(parent);
  EXPECT_EQ(late_child.deadline(), soon);
  EXPECT_EQ(early_child.deadline(), soon - 30min);
  EXPECT_EQ(plain_child.deadline(), soon);
  static const tbbx::context_key<int> key("k");
  context valued = tbbx::with_value(parent, key, 3);
  EXPECT_EQ(valued.deadline(), soon);
}

TEST(Deadline, ParentDeadlineEndsChildrenWithTheParentsCause) {
  auto cause = std::make_exception_ptr(std::runtime_error("parent budget"));
  auto [parent, cancel_parent] = with_timeout(background(), 10ms, cause);
  auto [child, cancel_child] = with_timeout(parent, 1h);
  child.wait();
  EXPECT_EQ(child.err(), make_error_code(errc::deadline_exceeded));
  EXPECT_EQ(child.cause(), cause);
}

TEST(Deadline, DeadlineAfterCancelChangesNothing) {
  // Far enough that the cancel comes first even in the chaos build.
  auto [ctx, cancel] = with_timeout(background(), 100ms);
  cancel();
  std::this_thread::sleep_for(120ms);  // let the (removed) deadline pass
  EXPECT_EQ(ctx.err(), make_error_code(errc::canceled));
}

TEST(Wait, WaitForTimesOutOnALiveContext) {
  auto [ctx, cancel] = with_cancel(background());
  const auto start = Clock::now();
  EXPECT_FALSE(ctx.wait_for(10ms));
  EXPECT_GE(Clock::now() - start, 10ms);
  EXPECT_FALSE(ctx.wait_until(Clock::now() - 1s));
}

TEST(Wait, WaitersWakeOnCancelFromAnotherThread) {
  auto [ctx, cancel] = with_cancel(background());
  std::atomic<int> woken{0};
  std::vector<std::thread> waiters;
  for (int i = 0; i < 4; ++i) {
    waiters.emplace_back([&, i, ctx = ctx] {
      if (i % 2 == 0) {
        ctx.wait();
        woken.fetch_add(1);
      } else if (ctx.wait_for(1h)) {
        woken.fetch_add(1);
      }
    });
  }
  cancel();
  for (auto& t : waiters) t.join();
  EXPECT_EQ(woken.load(), 4);
}

TEST(Values, NearestValueWins) {
  static const tbbx::context_key<std::string> user("user");
  static const tbbx::context_key<int> depth("depth");
  context a = tbbx::with_value(background(), user, "ada");
  context b = tbbx::with_value(a, depth, 1);
  context c = tbbx::with_value(b, user, std::string("grace"));
  ASSERT_NE(c.value(user), nullptr);
  EXPECT_EQ(*c.value(user), "grace");
  EXPECT_EQ(*b.value(user), "ada");
  EXPECT_EQ(*c.value(depth), 1);
  EXPECT_EQ(a.value(depth), nullptr);
  EXPECT_EQ(background().value(user), nullptr);
  EXPECT_STREQ(user.name(), "user");
}

TEST(Values, KeysWithEqualNamesDoNotCollide) {
  static const tbbx::context_key<int> first("id");
  static const tbbx::context_key<int> second("id");
  context ctx = tbbx::with_value(background(), first, 1);
  EXPECT_EQ(*ctx.value(first), 1);
  EXPECT_EQ(ctx.value(second), nullptr);
}

TEST(Values, SurviveThroughCancelNodesAndOutliveHandles) {
  static const tbbx::context_key<std::string> key("k");
  const std::string* seen = nullptr;
  context leaf;
  {
    context valued = tbbx::with_value(background(), key, "v");
    auto [child, cancel] = with_cancel(valued);
    cancel.release();
    leaf = child;
  }
  seen = leaf.value(key);
  ASSERT_NE(seen, nullptr);
  EXPECT_EQ(*seen, "v");
}

TEST(Values, ValueNodeEndsWithItsParent) {
  static const tbbx::context_key<int> key("n");
  auto [parent, cancel] = with_cancel(background());
  context valued = tbbx::with_value(parent, key, 7);
  EXPECT_FALSE(valued.done());
  cancel();
  EXPECT_TRUE(valued.done());
  EXPECT_EQ(*valued.value(key), 7);
}

TEST(WithoutCancel, KeepsValuesButNeverEnds) {
  static const tbbx::context_key<int> key("trace");
  auto [parent, cancel] = with_timeout(background(), 1h);
  context valued = tbbx::with_value(parent, key, 42);
  context detached = tbbx::without_cancel(valued);
  auto [child, cancel_child] = with_cancel(detached);
  cancel();
  EXPECT_TRUE(valued.done());
  EXPECT_FALSE(detached.done());
  EXPECT_FALSE(detached.deadline().has_value());
  EXPECT_EQ(*detached.value(key), 42);
  EXPECT_FALSE(child.done());
  cancel_child();
  EXPECT_TRUE(child.done());
}

TEST(Handle, CopiesAreEqualAndMovedFromIsBackground) {
  auto [ctx, cancel] = with_cancel(background());
  context copy = ctx;
  EXPECT_EQ(copy, ctx);
  context moved = std::move(copy);
  EXPECT_EQ(moved, ctx);
  EXPECT_EQ(copy, background());  // NOLINT(bugprone-use-after-move)
  auto [other, cancel_other] = with_cancel(background());
  EXPECT_FALSE(other == ctx);
  copy = ctx;
  const context& same = copy;
  copy = same;  // self-assignment keeps the node alive
  cancel();
  EXPECT_TRUE(copy.done());
}

// Defect: `now() + duration::max()` overflowed and the context was done at
// once. A duration too large to add means "never".
TEST(Durations, AHugeTimeoutIsNoDeadline) {
  auto [ctx, cancel] = with_timeout(background(), Clock::duration::max());
  EXPECT_FALSE(ctx.done());
  EXPECT_FALSE(ctx.deadline().has_value());
  auto [at_max, cancel_max] =
      with_deadline(background(), Clock::time_point::max());
  EXPECT_FALSE(at_max.done());
  EXPECT_FALSE(at_max.deadline().has_value());
}

TEST(Durations, AHugeWaitWaitsUntilTheContextEnds) {
  auto [ctx, cancel] = with_cancel(background());
  std::atomic<bool> returned{false};
  std::thread waiter([&, &c = ctx] {
    EXPECT_TRUE(c.wait_for(Clock::duration::max()));
    returned = true;
  });
  std::this_thread::sleep_for(20ms);  // a wait that returned at once would
  EXPECT_FALSE(returned.load());      // have returned by now
  cancel();
  waiter.join();
  EXPECT_TRUE(returned.load());
  EXPECT_FALSE(background().wait_for(1ms));
  EXPECT_FALSE(background().wait_until(Clock::time_point::min()));
}

// Defect: the node's class operator new hid the aligned form, so an
// over-aligned value was misaligned.
TEST(Values, OverAlignedValuesAreAligned) {
  struct alignas(64) wide {
    char bytes[64];
  };
  static const tbbx::context_key<wide> key("wide");
  for (int i = 0; i < 16; ++i) {
    context c = tbbx::with_value(background(), key, wide{});
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(c.value(key)) % 64, 0u);
  }
}

// Defect: cancel() returned while a concurrent cancel of an inner node was
// still marking that node's children. A cancel is complete when it returns.
TEST(Tree, CancelReturnsOnlyOnceTheWholeSubtreeIsDone) {
  for (int round = 0; round < 5; ++round) {
    auto [root, cancel_root] = with_cancel(background());
    auto [p, cancel_p] = with_cancel(root);
    std::vector<tbbx::cancelable_context> children;
    children.reserve(200'000);
    for (int i = 0; i < 200'000; ++i) children.push_back(with_cancel(p));
    std::thread b([&, &c = cancel_p] { c(); });
    while (!p.done()) {
    }
    cancel_root();
    int not_done = 0;
    for (const auto& c : children) not_done += c.ctx.done() ? 0 : 1;
    EXPECT_EQ(not_done, 0) << "after the root's cancel returned";
    b.join();
  }
}

// The same for a direct cancel of a node that another cancel is marking.
TEST(Tree, CancelOfANodeBeingMarkedWaitsForItsSubtree) {
  auto [root, cancel_root] = with_cancel(background());
  std::vector<tbbx::cancelable_context> mids;
  std::vector<tbbx::cancelable_context> leaves;
  for (int i = 0; i < 64; ++i) {
    mids.push_back(with_cancel(root));
    for (int j = 0; j < 2000; ++j)
      leaves.push_back(with_cancel(mids.back().ctx));
  }
  std::thread b([&, &c = cancel_root] { c(); });
  int not_done = 0;
  for (int i = 63; i >= 0; --i) {
    mids[i].cancel();  // may find it already marked by the root's cancel
    for (int j = 0; j < 2000; ++j) {
      not_done += leaves[i * 2000 + j].ctx.done() ? 0 : 1;
    }
  }
  b.join();
  EXPECT_EQ(not_done, 0);
}

}  // namespace
