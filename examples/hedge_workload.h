// SPDX-License-Identifier: Apache-2.0
// The CPU workload of the hedging demo and benchmark, and the hand-written
// oneTBB hedge they compare against.
//
// An attempt spins for a duration drawn from a seeded distribution:
//   bimodal:   100 us with probability 0.98, 10 ms with probability 0.02
//   lognormal: median 100 us, sigma 1 (heavy-tailed), capped at 50 ms
// It checks its context every ~5 us, so a canceled loser stops early; the
// busy time of every attempt is added up as the CPU the request cost.
#ifndef TBBX_EXAMPLES_HEDGE_WORKLOAD_H_
#define TBBX_EXAMPLES_HEDGE_WORKLOAD_H_

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <vector>

#include "tbbx/tbbx.h"

namespace hedge_workload {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

enum class shape { bimodal, lognormal };

// attempt_source draws the duration of each attempt, in a fixed sequence
// for a fixed seed, whatever thread asks.
class attempt_source {
 public:
  attempt_source(shape s, std::uint64_t seed) : shape_(s), seed_(seed) {}

  Clock::duration next() {
    const std::uint64_t n = draws_.fetch_add(1, std::memory_order_relaxed);
    std::mt19937_64 rng(seed_ ^ (n * 0x9E3779B97F4A7C15ull));
    if (shape_ == shape::bimodal) {
      return std::uniform_real_distribution<double>(0, 1)(rng) < 0.98 ? 100us
                                                                      : 10ms;
    }
    const double us =
        std::lognormal_distribution<double>(std::log(100.0), 1.0)(rng);
    return std::chrono::microseconds(static_cast<long>(std::min(us, 50'000.0)));
  }

 private:
  const shape shape_;
  const std::uint64_t seed_;
  std::atomic<std::uint64_t> draws_{0};
};

// ledger counts attempts and the CPU they burned.
struct ledger {
  std::atomic<long> attempts{0};
  std::atomic<long long> busy_ns{0};
};

// spin burns CPU for `d`, giving up when `stop()` says so; returns whether
// it ran to the end.
template <class Stop>
bool spin(Clock::duration d, ledger& book, Stop stop) {
  book.attempts.fetch_add(1, std::memory_order_relaxed);
  const auto start = Clock::now();
  const auto until = start + d;
  bool finished = true;
  for (auto now = start; now < until; now = Clock::now()) {
    if (stop()) {
      finished = false;
      break;
    }
    const auto slice = std::min(until, now + 5us);
    while (Clock::now() < slice) {
    }
  }
  book.busy_ns.fetch_add(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start)
          .count(),
      std::memory_order_relaxed);
  return finished;
}

// One attempt under a tbbx context.
inline int tbbx_attempt(const tbbx::context& attempt, attempt_source& source,
                        ledger& book) {
  if (!spin(source.next(), book, [&] { return attempt.done(); })) {
    attempt.throw_if_done();
  }
  return 1;
}

// raw_hedge is a hedge written by hand with oneTBB, as one would without
// tbbx: attempts enqueued on a task_arena that leaves no slot to callers
// (so a blocked caller does not cost a core), a condition variable with a
// timed wait for the delay, and an atomic flag the losers poll.
class raw_hedge {
 public:
  explicit raw_hedge(int threads)
      : workers_(tbb::global_control::max_allowed_parallelism,
                 static_cast<std::size_t>(threads) + 1),
        arena_(threads, 0) {}

  int operator()(Clock::duration delay, attempt_source& source, ledger& book) {
    struct request {
      std::mutex mu;
      std::condition_variable cv;
      std::optional<int> result;  // guarded by mu
      std::atomic<bool> stop{false};
    };
    auto r = std::make_shared<request>();
    auto attempt = [r, &source, &book] {
      if (r->stop.load(std::memory_order_relaxed)) return;
      if (spin(source.next(), book,
               [&] { return r->stop.load(std::memory_order_relaxed); })) {
        std::lock_guard lock(r->mu);
        if (!r->result) {
          r->result = 1;
          r->stop = true;
          r->cv.notify_one();
        }
      }
    };
    arena_.enqueue(attempt);
    std::unique_lock lock(r->mu);
    if (!r->cv.wait_for(lock, delay, [&] { return r->result.has_value(); })) {
      arena_.enqueue(attempt);
      r->cv.wait(lock, [&] { return r->result.has_value(); });
    }
    return *r->result;
  }

 private:
  tbb::global_control workers_;  // room for one worker per slot
  tbb::task_arena arena_;
};

// percentile of sorted samples, q in [0, 1].
inline double percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const auto i = static_cast<std::size_t>(q * (sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
}

}  // namespace hedge_workload

#endif  // TBBX_EXAMPLES_HEDGE_WORKLOAD_H_
