// SPDX-License-Identifier: Apache-2.0
// Contract tests of tbbx::wait_for_all on oneTBB flow graphs (README
// "oneTBB flow graphs").
#include "tbbx/context/flow_graph.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>

namespace {

using namespace std::chrono_literals;
using tbbx::background;
using tbbx::cancelable_context;

TEST(FlowGraph, ReturnsWhenEveryMessageWasProcessed) {
  cancelable_context c = tbbx::with_cancel(background());
  tbbx::tbb_context bound(c.ctx);
  tbb::flow::graph g(bound.native());
  std::atomic<int> sum{0};
  tbb::flow::function_node<int> add(g, tbb::flow::unlimited,
                                    [&](int x) { sum += x; });
  for (int i = 1; i <= 100; ++i) add.try_put(i);
  tbbx::wait_for_all(c.ctx, g);
  EXPECT_EQ(sum, 5050);
}

TEST(FlowGraph, ACancelCutsTheGraphShortAndThrowsTheCause) {
  cancelable_context c = tbbx::with_cancel(background());
  tbbx::tbb_context bound(c.ctx);
  tbb::flow::graph g(bound.native());
  const auto cause = std::make_exception_ptr(std::runtime_error("stop"));
  std::atomic<int> processed{0};
  tbb::flow::function_node<int> body(g, tbb::flow::serial, [&](int x) {
    ++processed;
    if (x == 10) c.cancel(cause);
  });
  for (int i = 0; i < 1000; ++i) body.try_put(i);
  try {
    tbbx::wait_for_all(c.ctx, g);
    FAIL() << "a cut-short graph returned normally";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "stop");
  }
  EXPECT_LT(processed.load(), 1000);
}

TEST(FlowGraph, ADeadlineCutsTheGraphShort) {
  cancelable_context c = tbbx::with_timeout(background(), 5ms);
  tbbx::tbb_context bound(c.ctx);
  tbb::flow::graph g(bound.native());
  tbb::flow::function_node<int> body(g, tbb::flow::serial,
                                     [&](int) { c.ctx.wait(); });
  for (int i = 0; i < 100; ++i) body.try_put(i);
  EXPECT_THROW(tbbx::wait_for_all(c.ctx, g), tbbx::deadline_exceeded_error);
}

TEST(FlowGraph, AContextDoneBeforehandRunsNothing) {
  cancelable_context c = tbbx::with_cancel(background());
  c.cancel();
  tbbx::tbb_context bound(c.ctx);
  tbb::flow::graph g(bound.native());
  std::atomic<int> processed{0};
  tbb::flow::function_node<int> body(g, tbb::flow::unlimited,
                                     [&](int) { ++processed; });
  for (int i = 0; i < 100; ++i) body.try_put(i);
  EXPECT_THROW(tbbx::wait_for_all(c.ctx, g), tbbx::canceled_error);
  EXPECT_EQ(processed, 0);
}

TEST(FlowGraph, ABodysExceptionIsRethrown) {
  cancelable_context c = tbbx::with_cancel(background());
  tbbx::tbb_context bound(c.ctx);
  tbb::flow::graph g(bound.native());
  tbb::flow::function_node<int> body(g, tbb::flow::serial, [](int x) {
    if (x == 3) throw std::out_of_range("bad message");
  });
  for (int i = 0; i < 10; ++i) body.try_put(i);
  EXPECT_THROW(tbbx::wait_for_all(c.ctx, g), std::out_of_range);
}

TEST(FlowGraph, ANativeCancelIsReportedToo) {
  cancelable_context c = tbbx::with_cancel(background());
  tbbx::tbb_context bound(c.ctx);
  tbb::flow::graph g(bound.native());
  tbb::flow::function_node<int> body(g, tbb::flow::serial, [&](int x) {
    if (x == 2) g.cancel();
  });
  for (int i = 0; i < 100; ++i) body.try_put(i);
  EXPECT_THROW(tbbx::wait_for_all(c.ctx, g), tbbx::canceled_error);
  EXPECT_FALSE(c.ctx.done());
}

}  // namespace
