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
//  - WakeFloor: the same fire -> observed measure with neither MPI nor
//    tbbx in the path: what this machine charges for the wake-ups a cancel
//    of sleeping ranks needs (the peer to read CancelReach/idle against).
#include <linux/futex.h>
#include <mpi.h>
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_reduce.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
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

// wake_floor times what a cancel of idle ranks cannot avoid here: waking
// a sleeping thread in every other process (as a ring wakes an agent,
// SCHED_FIFO where allowed) and, for "two_hops", that thread waking one
// more of its process (as the agent wakes a waiter). Futex words live in
// memory the ranks share (MPI_Win_allocate_shared), so no MPI call is in
// the path. Max over ranks of fire -> the last thread woken.
void wake_floor(int trials) {
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL,
                      &node);
  int node_size = 0;
  MPI_Comm_size(node, &node_size);
  if (node_size != g_size) {
    if (g_rank == 0)
      std::printf("BM_MpiWakeFloor: skipped (ranks on several hosts)\n");
    MPI_Comm_free(&node);
    return;
  }
  std::uint32_t* mine = nullptr;
  MPI_Win win;
  MPI_Win_allocate_shared(64, 1, MPI_INFO_NULL, node, &mine, &win);
  std::vector<std::uint32_t*> bells(static_cast<std::size_t>(g_size));
  for (int r = 0; r < g_size; ++r) {
    MPI_Aint size = 0;
    int unit = 0;
    MPI_Win_shared_query(win, r, &size, &unit,
                         &bells[static_cast<std::size_t>(r)]);
  }
  std::atomic_ref<std::uint32_t> bell(*mine);
  bell.store(0);
  MPI_Barrier(MPI_COMM_WORLD);
  constexpr std::uint32_t kStop = ~std::uint32_t{0};
  std::atomic<int> hops{2};
  std::atomic<std::uint32_t> local{0};
  std::atomic<std::int64_t> stamp{0};
  std::thread relay([&] {
    sched_param p{};
    p.sched_priority = 1;
    pthread_setschedparam(pthread_self(), SCHED_FIFO, &p);  // else normal
    std::uint32_t seen = 0;
    for (;;) {
      std::uint32_t v = bell.load();
      while (v == seen) {
        ::syscall(SYS_futex, mine, FUTEX_WAIT, seen, nullptr, nullptr, 0);
        v = bell.load();
      }
      seen = v;
      if (v != kStop && hops.load() == 1) {
        stamp.store(now_ns());
        continue;
      }
      local.fetch_add(1);
      local.notify_one();
      if (v == kStop) return;
    }
  });
  std::thread waiter([&] {
    std::uint32_t seen = 0;
    for (;;) {
      local.wait(seen);
      seen = local.load();
      if (bell.load() == kStop) return;
      stamp.store(now_ns());
    }
  });
  for (int h = 1; h <= 2; ++h) {
    hops.store(h);
    std::vector<double> reach;
    for (int t = -1; t < trials; ++t) {  // -1: a warm-up, not recorded
      const int origin = (t + g_size) % g_size;
      MPI_Barrier(MPI_COMM_WORLD);
      std::this_thread::sleep_for(5ms);  // every thread asleep again
      std::int64_t t0 = 0;
      const auto round =
          static_cast<std::uint32_t>((h - 1) * (trials + 1) + t + 2);
      if (g_rank == origin) {
        t0 = now_ns();
        for (int r = 0; r < g_size; ++r) {
          if (r == origin) continue;
          std::atomic_ref<std::uint32_t>(*bells[static_cast<std::size_t>(r)])
              .store(round);
          ::syscall(SYS_futex, bells[static_cast<std::size_t>(r)], FUTEX_WAKE,
                    1, nullptr, nullptr, 0);
        }
      }
      std::this_thread::sleep_for(10ms);  // out of MPI meanwhile
      const std::int64_t woken = g_rank == origin ? 0 : stamp.load();
      t0 = from_rank(t0, origin);
      const double us = (max_over_ranks(woken) - t0) / 1e3;
      if (t >= 0) reach.push_back(us);
    }
    report(std::string("BM_MpiWakeFloor/") + (h == 1 ? "one_hop" : "two_hops") +
               "/ranks:" + std::to_string(g_size),
           reach);
  }
  bell.store(kStop);
  ::syscall(SYS_futex, mine, FUTEX_WAKE, 1, nullptr, nullptr, 0);
  relay.join();
  waiter.join();
  MPI_Barrier(MPI_COMM_WORLD);
  MPI_Win_free(&win);
  MPI_Comm_free(&node);
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
  wake_floor(trials);
  cancel_busy(std::max(1, trials / 2));
  deadline_spread(std::max(1, trials / 4));
  run_join(std::max(1, trials / 2));
  agent_overhead(5);
}
