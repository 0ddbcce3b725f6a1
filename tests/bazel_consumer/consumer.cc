// SPDX-License-Identifier: Apache-2.0
// A program of another Bazel workspace that depends on @tbbx//:tbbx only.
// Exits 0 when a deadline cuts a parallel_for short with
// deadline_exceeded_error.
#include <tbbx/tbbx.h>
#include <tbbx/version.h>

#include <chrono>
#include <cstdio>
#include <thread>

int main() {
  using namespace std::chrono_literals;
  tbbx::cancelable_context job = tbbx::with_timeout(tbbx::background(), 20ms);
  const tbbx::context& ctx = job.ctx;
  try {
    tbbx::parallel_for(ctx, 0, 100000, [&](int) {
      if (!ctx.done()) std::this_thread::sleep_for(1ms);
    });
  } catch (const tbbx::deadline_exceeded_error& e) {
    std::printf("tbbx %s from Bazel: cut short (%s)\n", TBBX_VERSION_STRING,
                e.what());
    return 0;
  }
  std::printf("FAIL: parallel_for was not cut short\n");
  return 1;
}
