// tbbx demo: stopping parallel work.
//
//   1. A parallel pipeline parses records; a bad record cancels the whole
//      pipeline with the bad record as the cause.
//   2. A batch job runs under a deadline; we report how much of the batch
//      completed and how late the stop was.
//
// Run it with `./dev demo`.
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>

#include "tbbx/tbbx.h"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A record whose checksum does not match.
class bad_record : public std::runtime_error {
 public:
  explicit bad_record(long id)
      : std::runtime_error("record " + std::to_string(id) +
                           " failed its checksum"),
        id_(id) {}
  long id() const noexcept { return id_; }

 private:
  long id_;
};

// busy_work stands in for real computation (about 10 ns a round).
void busy_work(long seed, int rounds) {
  double x = static_cast<double>(seed);
  for (int i = 0; i < rounds; ++i) x = std::sin(x) + 1.0001;
  static std::atomic<double> sink;  // keeps the work from being optimized out
  sink.store(x, std::memory_order_relaxed);
}

void pipeline_demo() {
  std::printf("1) Parallel pipeline, canceled by a bad record\n");
  constexpr long kRecords = 1'000'000;
  constexpr long kBadRecord = 4'321;
  auto [ctx, cancel] = tbbx::with_cancel(tbbx::background());
  std::atomic<long> next{0};  // written by the serial input filter only
  std::atomic<long> read_at_cancel{0};
  std::atomic<long> parsed{0};
  try {
    tbbx::parallel_pipeline(
        ctx, 16,
        tbb::make_filter<void, long>(tbb::filter_mode::serial_in_order,
                                     [&](tbb::flow_control& fc) -> long {
                                       if (next == kRecords) fc.stop();
                                       return next.fetch_add(1);
                                     }) &
            tbb::make_filter<long, void>(
                tbb::filter_mode::parallel, [&](long id) {
                  busy_work(id, 2'000);  // parse and verify
                  if (id == kBadRecord) {
                    read_at_cancel = next.load();
                    cancel(std::make_exception_ptr(bad_record(id)));
                    return;
                  }
                  parsed.fetch_add(1, std::memory_order_relaxed);
                }));
    std::printf("   finished without error (unexpected)\n");
  } catch (const bad_record& e) {
    std::printf("   stopped: %s\n", e.what());
    std::printf("   records read: %ld of %ld, parsed: %ld\n", next.load(),
                kRecords, parsed.load());
    std::printf("   records read after the cancel: %ld\n\n",
                next.load() - read_at_cancel.load());
  }
}

void deadline_demo() {
  std::printf("2) Batch job bounded by a 50 ms deadline\n");
  constexpr int kJobs = 100'000;
  std::atomic<int> completed{0};
  std::atomic<bool> seen{false};
  Clock::time_point stop_seen;
  const auto start = Clock::now();
  auto [ctx, cancel] = tbbx::with_timeout(tbbx::background(), 50ms);
  try {
    tbbx::parallel_for(ctx, 0, kJobs, [&](int job) {
      // Long jobs poll done() (one atomic load) between steps.
      for (int step = 0; step < 1000; ++step) {
        if (ctx.done()) {
          const auto now = Clock::now();
          if (!seen.exchange(true)) stop_seen = now;
          return;
        }
        busy_work(job + step, 20);
      }
      completed.fetch_add(1, std::memory_order_relaxed);
    });
    std::printf("   the whole batch finished before the deadline\n");
  } catch (const tbbx::deadline_exceeded_error& e) {
    const auto returned = Clock::now();
    const auto deadline = *ctx.deadline();
    auto us = [](Clock::duration d) {
      return std::chrono::duration<double, std::micro>(d).count();
    };
    std::printf("   stopped: %s\n", e.what());
    std::printf("   completed %d of %d jobs (%.1f%%) in %.1f ms\n",
                completed.load(), kJobs, 100.0 * completed.load() / kJobs,
                us(returned - start) / 1000);
    if (seen) {
      std::printf("   first job saw the deadline %.0f us after it passed\n",
                  us(stop_seen - deadline));
    }
    std::printf("   parallel_for returned %.0f us after the deadline\n",
                us(returned - deadline));
  }
}

}  // namespace

int main() {
  std::printf("tbbx demo (%u hardware threads)\n\n",
              std::thread::hardware_concurrency());
  pipeline_demo();
  deadline_demo();
  return 0;
}
