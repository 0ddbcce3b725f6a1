// SPDX-License-Identifier: Apache-2.0
// Downstream check: uses only the installed package (<tbbx/tbbx.h>,
// tbbx::tbbx). Exits 0 when a context-bounded parallel_for completes under a
// generous deadline and is cut short, with deadline_exceeded, under a short
// one.
#include <tbbx/tbbx.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <numeric>
#include <system_error>
#include <thread>
#include <vector>

namespace {

int failures = 0;

void check(bool ok, const char* what) {
  std::printf("%s: %s\n", ok ? "ok  " : "FAIL", what);
  if (!ok) ++failures;
}

}  // namespace

int main() {
  using namespace std::chrono_literals;
  using clock = std::chrono::steady_clock;

  // A generous deadline: every index runs, nothing is thrown.
  {
    tbbx::cancelable_context c = tbbx::with_timeout(tbbx::background(), 60s);
    std::vector<long> out(100000);
    bool threw = false;
    try {
      tbbx::parallel_for(c.ctx, 0, static_cast<int>(out.size()),
                         [&](int i) { out[i] = i; });
    } catch (...) {
      threw = true;
    }
    check(!threw, "parallel_for under a 60s deadline does not throw");
    const long n = static_cast<long>(out.size());
    check(std::accumulate(out.begin(), out.end(), 0L) == n * (n - 1) / 2,
          "parallel_for under a 60s deadline runs every index");
    check(!c.ctx.done(), "the 60s context is not done afterwards");
  }

  // A short deadline: the loop (100000 x 1ms of work on a few threads) is cut
  // short and parallel_for throws the deadline's cause.
  {
    tbbx::cancelable_context c = tbbx::with_timeout(tbbx::background(), 50ms);
    const tbbx::context& ctx = c.ctx;
    std::atomic<int> ran{0};
    const auto start = clock::now();
    bool threw_deadline = false;
    std::error_code code;
    try {
      tbbx::parallel_for(ctx, 0, 100000, [&](int) {
        if (ctx.done()) return;
        ran.fetch_add(1, std::memory_order_relaxed);
        std::this_thread::sleep_for(1ms);
      });
    } catch (const tbbx::deadline_exceeded_error& e) {
      threw_deadline = true;
      code = e.code();
    } catch (...) {
    }
    const auto took = clock::now() - start;
    check(threw_deadline,
          "parallel_for under a 50ms deadline throws deadline_exceeded_error");
    check(code == tbbx::errc::deadline_exceeded,
          "its code is tbbx::errc::deadline_exceeded");
    check(code == std::errc::timed_out, "which compares equal to timed_out");
    check(ctx.err() == tbbx::errc::deadline_exceeded,
          "ctx.err() is deadline_exceeded");
    check(ran.load() < 100000, "not every index ran");
    check(took < 10s, "the loop stopped soon after the deadline");
    std::printf("     (%d of 100000 indices ran, stopped after %lld ms)\n",
                ran.load(),
                static_cast<long long>(
                    std::chrono::duration_cast<std::chrono::milliseconds>(took)
                        .count()));
  }

  if (failures != 0) {
    std::printf("downstream: %d check(s) failed\n", failures);
    return 1;
  }
  std::printf("downstream: all checks passed\n");
  return 0;
}
