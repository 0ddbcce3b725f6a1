// SPDX-License-Identifier: Apache-2.0
// mpi_benchmark: tbbx::mpi under mpirun. An MPI driver (Google Benchmark
// does not know ranks) printing one line per case in Google Benchmark's
// shape, from rank 0:
//
//   mpirun -np 4 --oversubscribe bench/mpi_benchmark [trials]
//
// Times across ranks are compared on one steady clock, so run all ranks on
// one host (as ./dev demo-mpi and the figures in README.md do).
//  - CancelReach/idle: one rank cancels its session; max over ranks of
//    cancel -> an on_done callback ran there (on the deferred runner), and
//    cancel -> a thread blocked in ctx.wait() returned.
//  - CancelReach/busy: every core busy with oneTBB work under the session
//    context on every rank; max over ranks of cancel -> first done() seen
//    by a task, and cancel -> the rank's parallel_for returned (the last
//    oneTBB task).
//  - DeadlineSpread: one rank's parent has a 20 ms timeout; spread (max -
//    min) over ranks of the instant the session context ended.
//  - RunJoin: run() with no error, and with an error on one rank: whole
//    call, max over ranks.
//  - AgentOverhead: a compute loop (parallel_reduce) on every rank with no
//    session, then with a live session (agent polling): time lost.
#include <mpi.h>
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_reduce.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tbbx/distributed/mpi.h"
#include "tbbx/tbbx.h"

namespace {

using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

int g_rank = 0;
int g_size = 1;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             clock_type::now().time_since_epoch())
      .count();
}

std::int64_t max_over_ranks(std::int64_t v) {
  std::int64_t out = 0;
  MPI_Allreduce(&v, &out, 1, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
  return out;
}
std::int64_t min_over_ranks(std::int64_t v) {
  std::int64_t out = 0;
  MPI_Allreduce(&v, &out, 1, MPI_INT64_T, MPI_MIN, MPI_COMM_WORLD);
  return out;
}
std::int64_t from_rank(std::int64_t v, int root) {
  MPI_Bcast(&v, 1, MPI_INT64_T, root, MPI_COMM_WORLD);
  return v;
}

double pct(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(q * (v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

void report(const std::string& name, std::vector<double> us) {
  if (g_rank != 0) return;
  std::printf(
      "%-44s %8zu trials  p50=%9.1fus p90=%9.1fus p99=%9.1fus max=%9.1fus\n",
      name.c_str(), us.size(), pct(us, 0.5), pct(us, 0.9), pct(us, 0.99),
      us.empty() ? 0.0 : *std::max_element(us.begin(), us.end()));
  std::fflush(stdout);
}

void cancel_idle(int trials) {
  std::vector<double> reach;
  std::vector<double> woken;
  // Trial -1 is a warm-up, not recorded: the first messages of a run pay
  // Open MPI's connection set-up (~0.5-15 ms here), once per process.
  for (int t = -1; t < trials; ++t) {
    const int origin = (t + g_size) % g_size;
    tbbx::mpi::session s(MPI_COMM_WORLD, tbbx::background());
    // Stamped by the on_done callback: on the ranks that receive the
    // cancel it runs on tbbx's deferred runner (normal priority), after
    // the agent marked the context done.
    std::atomic<std::int64_t> done_at{0};
    auto reg = tbbx::on_done(s.get_context(), [&] { done_at = now_ns(); });
    MPI_Barrier(MPI_COMM_WORLD);
    // Let every rank leave the barrier (4 ranks on 2 cores leave it up to
    // a time slice apart) so that no main thread is inside MPI.
    std::this_thread::sleep_for(5ms);
    std::int64_t t0 = 0;
    if (g_rank == origin) {
      t0 = now_ns();
      s.cancel();
    }
    s.get_context().wait();
    const std::int64_t t1 = now_ns();
    // Stay out of MPI until every rank has surely seen the cancel: a rank
    // spinning in a collective slows the agents' MPI calls (locks shared
    // inside Open MPI), which is not what this case measures.
    std::this_thread::sleep_for(10ms);
    t0 = from_rank(t0, origin);
    const double reach_us = (max_over_ranks(done_at.load()) - t0) / 1e3;
    const double woken_us = (max_over_ranks(t1) - t0) / 1e3;
    if (t < 0) continue;
    reach.push_back(reach_us);
    woken.push_back(woken_us);
  }
  report("BM_MpiCancelReach/idle/on_done/ranks:" + std::to_string(g_size),
         reach);
  report("BM_MpiCancelReach/idle/waiter_woken/ranks:" + std::to_string(g_size),
         woken);
}

void cancel_busy(int trials) {
  std::vector<double> seen_us;
  std::vector<double> last_us;
  for (int t = -1; t < trials; ++t) {  // -1: a warm-up, as in cancel_idle
    const int origin = (t + g_size) % g_size;
    tbbx::mpi::session s(MPI_COMM_WORLD, tbbx::background());
    const tbbx::context& ctx = s.get_context();
    MPI_Barrier(MPI_COMM_WORLD);
    std::atomic<std::int64_t> first_seen{INT64_MAX};
    std::atomic<std::int64_t> t0{0};
    std::thread canceler;
    if (g_rank == origin) {
      canceler = std::thread([&] {
        std::this_thread::sleep_for(3ms);  // let every core get busy
        t0.store(now_ns());
        s.cancel();
      });
    }
    try {
      tbbx::parallel_for(
          ctx, tbb::blocked_range<int>(0, 1 << 30, 1 << 10),
          [&](const tbb::blocked_range<int>& r) {
            volatile double x = 1;
            for (int i = r.begin(); i != r.end(); ++i) {
              if (ctx.done()) {
                const std::int64_t n = now_ns();
                std::int64_t cur = first_seen.load();
                while (n < cur && !first_seen.compare_exchange_weak(cur, n)) {
                }
                return;
              }
              x = x * 1.0000001 + 1e-9;
            }
          });
    } catch (const std::exception&) {
    }
    const std::int64_t t_end = now_ns();
    if (canceler.joinable()) canceler.join();
    const std::int64_t start = from_rank(t0.load(), origin);
    const std::int64_t seen =
        first_seen.load() == INT64_MAX ? t_end : first_seen.load();
    const double seen_at = (max_over_ranks(seen) - start) / 1e3;
    const double last_at = (max_over_ranks(t_end) - start) / 1e3;
    if (t < 0) continue;
    seen_us.push_back(seen_at);
    last_us.push_back(last_at);
  }
  report("BM_MpiCancelReach/busy/done_seen/ranks:" + std::to_string(g_size),
         seen_us);
  report("BM_MpiCancelReach/busy/last_task/ranks:" + std::to_string(g_size),
         last_us);
}

void deadline_spread(int trials) {
  std::vector<double> spread;
  for (int t = 0; t < trials; ++t) {
    const int holder = t % g_size;
    auto [parent, cancel] = g_rank == holder
                                ? tbbx::with_timeout(tbbx::background(), 20ms)
                                : tbbx::with_cancel(tbbx::background());
    tbbx::mpi::session s(MPI_COMM_WORLD, parent);
    s.get_context().wait();
    const std::int64_t t1 = now_ns();
    spread.push_back((max_over_ranks(t1) - min_over_ranks(t1)) / 1e3);
  }
  report("BM_MpiDeadlineSpread/ranks:" + std::to_string(g_size), spread);
}

void run_join(int trials) {
  std::vector<double> ok;
  std::vector<double> failed;
  for (int t = 0; t < trials; ++t) {
    MPI_Barrier(MPI_COMM_WORLD);
    std::int64_t t0 = now_ns();
    tbbx::mpi::run(MPI_COMM_WORLD, tbbx::background(),
                   [](const tbbx::context&) {});
    ok.push_back((max_over_ranks(now_ns()) - min_over_ranks(t0)) / 1e3);
    MPI_Barrier(MPI_COMM_WORLD);
    t0 = now_ns();
    try {
      tbbx::mpi::run(MPI_COMM_WORLD, tbbx::background(),
                     [&](const tbbx::context&) {
                       if (g_rank == t % g_size) throw std::runtime_error("x");
                     });
    } catch (const std::exception&) {
    }
    failed.push_back((max_over_ranks(now_ns()) - min_over_ranks(t0)) / 1e3);
  }
  report("BM_MpiRun/no_error/ranks:" + std::to_string(g_size), ok);
  report("BM_MpiRun/error_on_one_rank/ranks:" + std::to_string(g_size), failed);
}

double compute_seconds() {
  MPI_Barrier(MPI_COMM_WORLD);
  const auto start = clock_type::now();
  const double sum = tbb::parallel_reduce(
      tbb::blocked_range<long>(0, 60'000'000), 0.0,
      [](const tbb::blocked_range<long>& r, double acc) {
        for (long i = r.begin(); i != r.end(); ++i) acc += std::sqrt(double(i));
        return acc;
      },
      std::plus<double>());
  if (sum < 0) std::abort();
  const double mine =
      std::chrono::duration<double>(clock_type::now() - start).count();
  double all = 0;
  MPI_Allreduce(&mine, &all, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return all;
}

void agent_overhead(int reps) {
  // Alternate without / with a live session; keep the best of each, which
  // is the least disturbed by the other users of the machine.
  double without = 1e9;
  double with = 1e9;
  for (int i = 0; i < reps; ++i) {
    without = std::min(without, compute_seconds());
    tbbx::mpi::session s(MPI_COMM_WORLD, tbbx::background());
    with = std::min(with, compute_seconds());
  }
  if (g_rank == 0) {
    std::printf(
        "%-44s %8d reps    without=%7.1fms with=%7.1fms overhead=%5.2f%%\n",
        ("BM_MpiAgentOverhead/ranks:" + std::to_string(g_size)).c_str(), reps,
        without * 1e3, with * 1e3, (with / without - 1) * 100);
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  tbbx::mpi::environment env(argc, argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  const int trials = argc > 1 ? std::atoi(argv[1]) : 200;
  {
    tbbx::mpi::session probe(MPI_COMM_WORLD, tbbx::background());
    MPI_Barrier(MPI_COMM_WORLD);
    if (g_rank == 0) {
      std::printf("mpi_benchmark: %d ranks, %u cores, progress agent %s\n",
                  g_size, std::thread::hardware_concurrency(),
                  std::getenv("TBBX_MPI_REALTIME") != nullptr &&
                          std::string(std::getenv("TBBX_MPI_REALTIME")) == "0"
                      ? "at normal priority (TBBX_MPI_REALTIME=0)"
                      : "asks for SCHED_FIFO");
    }
  }
  cancel_idle(trials);
  cancel_busy(std::max(1, trials / 2));
  deadline_spread(std::max(1, trials / 4));
  run_join(std::max(1, trials / 2));
  agent_overhead(5);
}
