// SPDX-License-Identifier: Apache-2.0
// Hedging on a CPU workload (examples/hedge_workload.h): attempts take
// 100 us (p = 0.98) or 10 ms (p = 0.02), or follow a lognormal tail.
// Rows, all in one run on the same workload:
//   NoHedge       the attempt called directly on the caller's thread
//   NoHedgeTask   the attempt as a task through tbbx::hedge, max_attempts 1:
//                 the request latency a hedge delay is measured against;
//                 its p95 is the delay of the next two rows
//   FixedHedge    tbbx::hedge, delay = p95 of NoHedgeTask
//   AdaptiveHedger tbbx::hedger (p95, 5% budget), after 500 warm-up requests
//   RawOneTbb     a hand-written oneTBB hedge with the same delay
//   DelayPrecision how late the second attempt starts after a 150 us delay,
//                 tbbx vs the hand-written hedge (idle machine)
// Each row runs 2,000 sequential requests (TBBX_HEDGE_REQUESTS=N for N;
// `./dev plot` uses 20,000, so that p99.9 is the 20th slowest request and
// not the 2nd), or 2 clients x half as many requests at
// once (Concurrent: two requests in flight on 2 cores, each with its
// hedges; with more, the cores are saturated and no hedge can help). Counters:
// p50/p99/p999 latency in us, extra attempts in % of requests, and the CPU the
// attempts burned (ms).
//
// With TBBX_HEDGE_CSV=path the latencies of every row are written there
// (row,latency_us) for tools/plot_hedge_cdf.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench_support.h"
#include "hedge_workload.h"
#include "tbbx/tbbx.h"

namespace {

using namespace hedge_workload;

// requests is the number of requests per row: TBBX_HEDGE_REQUESTS, or
// 2,000 (enough for p99; p99.9 of 2,000 is the 2nd-slowest request and
// swings by 10x between runs).
int requests() {
  static const int n = [] {
    const char* env = std::getenv("TBBX_HEDGE_REQUESTS");
    if (env == nullptr || *env == '\0') return 2000;
    char* end = nullptr;
    const long v = std::strtol(env, &end, 10);
    if (*end != '\0' || v < 2 || v > 10'000'000) {
      std::fprintf(stderr,
                   "hedge_benchmark: TBBX_HEDGE_REQUESTS must be a count "
                   "in 2..10000000, got '%s'\n",
                   env);
      std::exit(2);
    }
    return static_cast<int>(v);
  }();
  return n;
}
constexpr int kClients = 2;
constexpr std::uint64_t kSeed = 2026;

std::mutex results_mu;
std::map<std::string, std::vector<double>> results;  // guarded by results_mu
std::map<std::string, double> measured_p95_us;       // guarded by results_mu

void save(const std::string& row, std::vector<double> latencies_us) {
  std::lock_guard lock(results_mu);
  results[row] = std::move(latencies_us);
}

// run issues the requests (sequentially, or from kClients threads at once)
// and reports the row's counters.
template <class Request>
void run(benchmark::State& state, const std::string& row, bool concurrent,
         ledger& book, Request request) {
  std::vector<double> latencies;
  const long attempts_before = book.attempts.load();
  const long long busy_before = book.busy_ns.load();
  for (auto _ : state) {
    std::mutex mu;
    auto client = [&](int requests) {
      std::vector<double> mine;
      mine.reserve(static_cast<std::size_t>(requests));
      for (int i = 0; i < requests; ++i) {
        const auto start = Clock::now();
        benchmark::DoNotOptimize(request());
        mine.push_back(
            std::chrono::duration<double, std::micro>(Clock::now() - start)
                .count());
      }
      std::lock_guard lock(mu);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
    };
    if (concurrent) {
      std::vector<std::thread> clients;
      for (int c = 0; c < kClients; ++c) {
        clients.emplace_back(client, requests() / kClients);
      }
      for (auto& t : clients) t.join();
    } else {
      client(requests());
    }
  }
  std::sort(latencies.begin(), latencies.end());
  const double n = static_cast<double>(latencies.size());
  state.counters["p50_us"] = percentile(latencies, 0.50);
  state.counters["p99_us"] = percentile(latencies, 0.99);
  state.counters["p999_us"] = percentile(latencies, 0.999);
  state.counters["requests"] = n;
  state.counters["extra_pct"] =
      100.0 *
      (static_cast<double>(book.attempts.load() - attempts_before) - n) / n;
  state.counters["cpu_ms"] =
      static_cast<double>(book.busy_ns.load() - busy_before) / 1e6;
  {
    std::lock_guard lock(results_mu);
    measured_p95_us[row] = percentile(latencies, 0.95);
  }
  save(row, std::move(latencies));
}

std::string row_name(const char* what, shape s, bool concurrent) {
  return std::string(what) + (s == shape::bimodal ? "/bimodal" : "/lognormal") +
         (concurrent ? "/concurrent" : "/sequential");
}

// The fixed delay is the p95 of the matching NoHedgeTask row (run first).
Clock::duration p95_delay(shape s, bool concurrent) {
  std::lock_guard lock(results_mu);
  auto it = measured_p95_us.find(row_name("NoHedgeTask", s, concurrent));
  const double us = it == measured_p95_us.end() ? 150.0 : it->second;
  return std::chrono::microseconds(static_cast<long>(us));
}

void BM_NoHedge(benchmark::State& state) {
  const auto s = static_cast<shape>(state.range(0));
  const bool concurrent = state.range(1) != 0;
  attempt_source source(s, kSeed);
  ledger book;
  run(state, row_name("NoHedge", s, concurrent), concurrent, book,
      [&] { return tbbx_attempt(tbbx::background(), source, book); });
}

void BM_NoHedgeTask(benchmark::State& state) {
  const auto s = static_cast<shape>(state.range(0));
  const bool concurrent = state.range(1) != 0;
  attempt_source source(s, kSeed);
  ledger book;
  run(state, row_name("NoHedgeTask", s, concurrent), concurrent, book, [&] {
    return tbbx::hedge(tbbx::background(), {std::chrono::hours(1), 1},
                       [&](const tbbx::context& attempt) {
                         return tbbx_attempt(attempt, source, book);
                       });
  });
}

void BM_FixedHedge(benchmark::State& state) {
  const auto s = static_cast<shape>(state.range(0));
  const bool concurrent = state.range(1) != 0;
  attempt_source source(s, kSeed);
  ledger book;
  const tbbx::hedge_policy policy{p95_delay(s, concurrent), 2};
  state.counters["delay_us"] =
      std::chrono::duration<double, std::micro>(policy.delay).count();
  run(state, row_name("FixedHedge", s, concurrent), concurrent, book, [&] {
    return tbbx::hedge(tbbx::background(), policy,
                       [&](const tbbx::context& attempt) {
                         return tbbx_attempt(attempt, source, book);
                       });
  });
}

void BM_AdaptiveHedger(benchmark::State& state) {
  const auto s = static_cast<shape>(state.range(0));
  const bool concurrent = state.range(1) != 0;
  attempt_source source(s, kSeed);
  ledger warmup_book;
  tbbx::hedger hedger;
  for (int i = 0; i < 500; ++i) {
    hedger(tbbx::background(), [&](const tbbx::context& attempt) {
      return tbbx_attempt(attempt, source, warmup_book);
    });
  }
  ledger book;
  const auto before = hedger.stats();
  run(state, row_name("AdaptiveHedger", s, concurrent), concurrent, book, [&] {
    return hedger(tbbx::background(), [&](const tbbx::context& attempt) {
      return tbbx_attempt(attempt, source, book);
    });
  });
  const auto after = hedger.stats();
  state.counters["delay_us"] =
      std::chrono::duration<double, std::micro>(after.delay).count();
  state.counters["budget_refusals"] =
      static_cast<double>(after.budget_refusals - before.budget_refusals);
}

void BM_RawOneTbb(benchmark::State& state) {
  const auto s = static_cast<shape>(state.range(0));
  const bool concurrent = state.range(1) != 0;
  attempt_source source(s, kSeed);
  ledger book;
  raw_hedge hedge(static_cast<int>(std::thread::hardware_concurrency()));
  const auto delay = p95_delay(s, concurrent);
  state.counters["delay_us"] =
      std::chrono::duration<double, std::micro>(delay).count();
  run(state, row_name("RawOneTbb", s, concurrent), concurrent, book,
      [&] { return hedge(delay, source, book); });
}

void rows(benchmark::internal::Benchmark* b) {
  b->ArgNames({"shape", "concurrent"});
  for (int concurrent : {0, 1}) {
    for (int s : {0, 1}) b->Args({s, concurrent});
  }
  b->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK(BM_NoHedge)->Apply(rows);
BENCHMARK(BM_NoHedgeTask)->Apply(rows);
BENCHMARK(BM_FixedHedge)->Apply(rows);
BENCHMARK(BM_AdaptiveHedger)->Apply(rows);
BENCHMARK(BM_RawOneTbb)->Apply(rows);

// The delay the second attempt really waited, minus the 150 us asked: the
// first attempt blocks until canceled, the second records when it starts.
constexpr auto kPreciseDelay = std::chrono::microseconds(150);

void BM_DelayPrecision_Tbbx(benchmark::State& state) {
  std::vector<double> late_us;
  for (auto _ : state) {
    struct times {
      std::atomic<int> next{0};
      Clock::time_point first, second;
    };
    auto t = std::make_shared<times>();
    tbbx::hedge(tbbx::background(), {kPreciseDelay, 2},
                [t](const tbbx::context& attempt) {
                  if (t->next.fetch_add(1) == 0) {
                    t->first = Clock::now();
                    attempt.wait();
                    attempt.throw_if_done();
                  }
                  t->second = Clock::now();
                  return 0;
                });
    late_us.push_back(std::chrono::duration<double, std::micro>(
                          t->second - t->first - kPreciseDelay)
                          .count());
  }
  tbbx::bench::report_latency(state, std::move(late_us));
}
BENCHMARK(BM_DelayPrecision_Tbbx)->Iterations(2000);

void BM_DelayPrecision_RawOneTbb(benchmark::State& state) {
  // The hand-written hedge's delay is its caller's condition-variable wait.
  std::vector<double> late_us;
  std::mutex mu;
  std::condition_variable cv;
  for (auto _ : state) {
    const auto first = Clock::now();
    std::unique_lock lock(mu);
    cv.wait_for(lock, kPreciseDelay, [] { return false; });
    late_us.push_back(std::chrono::duration<double, std::micro>(
                          Clock::now() - first - kPreciseDelay)
                          .count());
  }
  tbbx::bench::report_latency(state, std::move(late_us));
}
BENCHMARK(BM_DelayPrecision_RawOneTbb)->Iterations(2000);

void write_csv() {
  const char* path = std::getenv("TBBX_HEDGE_CSV");
  if (path == nullptr || *path == '\0') return;
  std::ofstream out(path);
  out << "row,latency_us\n";
  std::lock_guard lock(results_mu);
  for (const auto& [row, latencies] : results) {
    for (double us : latencies) out << row << ',' << us << '\n';
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  write_csv();
  return 0;
}
