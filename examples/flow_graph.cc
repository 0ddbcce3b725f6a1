// SPDX-License-Identifier: Apache-2.0
// flow_graph: a oneTBB flow graph run under a tbbx context. A source of
// numbers feeds a stage that "works" on each one and a serial stage that
// sums the results. Run once with room to finish, then with a timeout too
// short for the work: tbbx::wait_for_all throws the deadline instead of
// returning a partial sum as graph::wait_for_all() would.
//
//   flow_graph [items] [timeout_ms]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <thread>

#include "tbbx/tbbx.h"

namespace {

using namespace std::chrono_literals;

// sum_squares runs the graph under `ctx` and returns the sum of i*i for i
// in [0, items), or throws ctx.cause() if ctx ends first.
long long sum_squares(const tbbx::context& ctx, int items) {
  tbbx::tbb_context bound(ctx);  // declared first: outlives the graph
  tbb::flow::graph g(bound.native());
  int next = 0;
  tbb::flow::input_node<int> source(g, [&](tbb::flow_control& fc) {
    if (next == items) fc.stop();
    return next++;
  });
  tbb::flow::function_node<int, long long> square(
      g, tbb::flow::unlimited, [](int x) {
        std::this_thread::sleep_for(200us);  // stands for real work
        return static_cast<long long>(x) * x;
      });
  long long sum = 0;
  tbb::flow::function_node<long long> add(g, tbb::flow::serial,
                                          [&](long long v) { sum += v; });
  tbb::flow::make_edge(source, square);
  tbb::flow::make_edge(square, add);
  source.activate();
  tbbx::wait_for_all(ctx, g);  // throws ctx.cause() if cut short
  return sum;
}

}  // namespace

int main(int argc, char** argv) {
  const int items = argc > 1 ? std::atoi(argv[1]) : 2000;
  const auto timeout =
      std::chrono::milliseconds(argc > 2 ? std::atoi(argv[2]) : 20);

  std::printf("full run:    sum = %lld\n",
              sum_squares(tbbx::background(), items));

  tbbx::cancelable_context c = tbbx::with_timeout(tbbx::background(), timeout);
  try {
    std::printf("short run:   sum = %lld\n", sum_squares(c.ctx, items));
  } catch (const tbbx::deadline_exceeded_error& e) {
    std::printf("short run:   %s after %lld ms: no partial sum reported\n",
                e.what(), static_cast<long long>(timeout.count()));
  }
  return EXIT_SUCCESS;
}
