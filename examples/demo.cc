// SPDX-License-Identifier: Apache-2.0
// tbbx demo: stopping parallel work.
//
//   1. A parallel pipeline parses records; a bad record cancels the whole
//      pipeline with the bad record as the cause.
//   2. A batch job runs under a deadline; we report how much of the batch
//      completed and how late the stop was.
//   3. Hedged requests cut the latency tail of a CPU workload whose
//      attempts sometimes take 100 times longer.
//
// Run it with `./dev demo`.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "hedge_workload.h"
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
  tbbx::cancelable_context run = tbbx::with_cancel(tbbx::background());
  std::atomic<long> next{0};  // written by the serial input filter only
  std::atomic<long> read_at_cancel{0};
  std::atomic<long> parsed{0};
  try {
    tbbx::parallel_pipeline(
        run.ctx, 16,
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
                    run.cancel(std::make_exception_ptr(bad_record(id)));
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
  tbbx::cancelable_context batch = tbbx::with_timeout(tbbx::background(), 50ms);
  try {
    tbbx::parallel_for(batch.ctx, 0, kJobs, [&](int job) {
      // Long jobs poll done() (one atomic load) between steps.
      for (int step = 0; step < 1000; ++step) {
        if (batch.ctx.done()) {
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
    const auto deadline = *batch.ctx.deadline();
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

// measure runs `requests` requests and prints one table row.
template <class Request>
std::vector<double> measure(const char* name, int requests,
                            hedge_workload::ledger& book, Request request) {
  std::vector<double> latencies;
  const long attempts_before = book.attempts.load();
  const long long busy_before = book.busy_ns.load();
  for (int i = 0; i < requests; ++i) {
    const auto start = Clock::now();
    request();
    latencies.push_back(
        std::chrono::duration<double, std::micro>(Clock::now() - start)
            .count());
  }
  std::sort(latencies.begin(), latencies.end());
  const double extra =
      100.0 *
      static_cast<double>(book.attempts.load() - attempts_before - requests) /
      requests;
  std::printf("   %-30s %8.0f %9.0f %9.0f %8.1f%% %8.0f\n", name,
              hedge_workload::percentile(latencies, 0.5),
              hedge_workload::percentile(latencies, 0.99),
              hedge_workload::percentile(latencies, 0.999), extra,
              static_cast<double>(book.busy_ns.load() - busy_before) / 1e6);
  return latencies;
}

void hedge_demo() {
  using namespace hedge_workload;
  constexpr int kRequests = 1000;
  std::printf("3) Hedged requests: attempts take 100 us, or 10 ms (2%%)\n");
  std::printf("   %-30s %8s %9s %9s %9s %8s\n", "", "p50 us", "p99 us",
              "p99.9 us", "extra", "CPU ms");
  attempt_source source(shape::bimodal, 7);
  ledger book;
  measure("no hedge", kRequests, book,
          [&] { return tbbx_attempt(tbbx::background(), source, book); });
  // The fixed delay: p95 of the same requests run as tasks, unhedged.
  ledger calibration;
  auto unhedged = measure("(as tasks, for the p95)", 300, calibration, [&] {
    return tbbx::hedge(tbbx::background(), {std::chrono::hours(1), 1},
                       [&](const tbbx::context& attempt) {
                         return tbbx_attempt(attempt, source, calibration);
                       });
  });
  const auto delay =
      std::chrono::microseconds(static_cast<long>(percentile(unhedged, 0.95)));
  measure("tbbx::hedge, delay = p95", kRequests, book, [&] {
    return tbbx::hedge(tbbx::background(), {delay, 2},
                       [&](const tbbx::context& attempt) {
                         return tbbx_attempt(attempt, source, book);
                       });
  });
  tbbx::hedger hedger;  // learns p95, keeps hedges within 5% of requests
  ledger warmup;
  for (int i = 0; i < 300; ++i) {
    hedger(tbbx::background(), [&](const tbbx::context& attempt) {
      return tbbx_attempt(attempt, source, warmup);
    });
  }
  measure("tbbx::hedger (adaptive)", kRequests, book, [&] {
    return hedger(tbbx::background(), [&](const tbbx::context& attempt) {
      return tbbx_attempt(attempt, source, book);
    });
  });
  const auto stats = hedger.stats();
  std::printf(
      "   hedger: delay %.0f us, %llu hedges won of %llu requests, %llu "
      "losers canceled early\n",
      std::chrono::duration<double, std::micro>(stats.delay).count(),
      static_cast<unsigned long long>(stats.hedge_wins),
      static_cast<unsigned long long>(stats.requests),
      static_cast<unsigned long long>(stats.canceled_attempts));
  std::printf("   (./dev bench --benchmark_filter=Hedge for the full table)\n");
}

}  // namespace

int main() {
  std::printf("tbbx demo (%u hardware threads)\n\n",
              std::thread::hardware_concurrency());
  pipeline_demo();
  deadline_demo();
  std::printf("\n");
  hedge_demo();
  return 0;
}
