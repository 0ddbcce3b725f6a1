// SPDX-License-Identifier: Apache-2.0
// The randomized stress suite's harness. Each stress test runs rounds until
// its time is up; each round draws its choices from a seed printed on
// failure, so a failing round can be replayed:
//
//   TBBX_STRESS_SEED=<seed> TBBX_STRESS_SECONDS=<s> ./stress_<name>_test
//
// TBBX_STRESS_SECONDS (default 1) bounds each test; ./dev test runs the
// suite in the Release, sanitizer and schedule-perturbation (TBBX_CHAOS)
// builds, and ./dev soak runs it for as long as asked. A watchdog turns a
// hang into a failure naming the seed.
#ifndef TBBX_TESTS_STRESS_STRESS_SUPPORT_H_
#define TBBX_TESTS_STRESS_STRESS_SUPPORT_H_

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "test_support.h"

namespace tbbx::stress {

using Clock = std::chrono::steady_clock;

inline double seconds_budget() {
  const char* s = std::getenv("TBBX_STRESS_SECONDS");
  const double v = s != nullptr ? std::atof(s) : 1.0;
  return v > 0 ? v : 1.0;
}

inline std::uint64_t base_seed() {
  if (const char* s = std::getenv("TBBX_STRESS_SEED")) {
    return std::strtoull(s, nullptr, 10);
  }
  return std::random_device{}();
}

// rounds calls round(seed) with fresh seeds until the budget is spent (one
// round only when a seed is given), stopping at the first failure; the
// seed of every failing round is printed.
template <class Round>
void rounds(const char* name, Round&& round) {
  const bool replay = std::getenv("TBBX_STRESS_SEED") != nullptr;
  const std::uint64_t base = base_seed();
  const auto until =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(seconds_budget()));
  long n = 0;
  for (std::uint64_t seed = base;; ++seed, ++n) {
    testing::watchdog dog(std::chrono::seconds(120),
                          std::string(name) + " seed " + std::to_string(seed));
    round(seed);
    if (::testing::Test::HasFailure()) {
      std::fprintf(stderr, "%s failed: replay with TBBX_STRESS_SEED=%llu\n",
                   name, static_cast<unsigned long long>(seed));
      return;
    }
    if (replay || Clock::now() >= until) break;
  }
  std::fprintf(stderr, "%s: %ld rounds from seed %llu\n", name, n + 1,
               static_cast<unsigned long long>(base));
}

// rng is a round's source of choices.
using rng = std::mt19937_64;

inline int pick(rng& r, int n) {
  return static_cast<int>(r() % static_cast<std::uint64_t>(n));
}
inline bool chance(rng& r, int percent) { return pick(r, 100) < percent; }

}  // namespace tbbx::stress

#endif  // TBBX_TESTS_STRESS_STRESS_SUPPORT_H_
