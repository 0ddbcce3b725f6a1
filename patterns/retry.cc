// SPDX-License-Identifier: Apache-2.0
#include "tbbx/patterns/retry.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>
#include <string>

#include "tbbx/context/detail/await.h"

namespace tbbx::detail {

void check_backoff(const backoff& b) {
  using std::chrono::steady_clock;
  if (b.initial < steady_clock::duration::zero() || b.max < b.initial) {
    throw std::invalid_argument(
        "tbbx::retry: need 0 <= initial <= max for the backoff waits");
  }
  if (!(b.multiplier >= 1.0) || std::isinf(b.multiplier)) {
    throw std::invalid_argument(
        "tbbx::retry: the multiplier must be finite and at least 1, got " +
        std::to_string(b.multiplier));
  }
  if (!(b.jitter >= 0.0 && b.jitter <= 1.0)) {
    throw std::invalid_argument("tbbx::retry: jitter must be in [0, 1], got " +
                                std::to_string(b.jitter));
  }
  if (b.max_attempts == 0) {
    throw std::invalid_argument(
        "tbbx::retry: max_attempts must be positive, or negative for no "
        "limit");
  }
}

bool retry_wait(const context& ctx, const backoff& b, int failures,
                const std::exception_ptr& error) {
  if (b.max_attempts > 0 && failures >= b.max_attempts) return false;
  if (b.retry_if && !b.retry_if(error)) return false;
  using std::chrono::steady_clock;
  const double base =
      std::chrono::duration<double>(b.initial).count() *
      std::pow(b.multiplier, static_cast<double>(std::min(failures - 1, 1000)));
  const double capped =
      std::min(base, std::chrono::duration<double>(b.max).count());
  thread_local std::minstd_rand rng(std::random_device{}());
  const double factor = b.jitter == 0.0
                            ? 1.0
                            : std::uniform_real_distribution<double>(
                                  1.0 - b.jitter, 1.0 + b.jitter)(rng);
  // In double seconds a huge `max` stays finite; it saturates to "never"
  // when turned back into a time point.
  const double seconds = capped * factor;
  const double limit =
      std::chrono::duration<double>(steady_clock::duration::max()).count();
  const time_point until =
      seconds >= limit
          ? no_deadline
          : deadline_after(std::chrono::duration_cast<steady_clock::duration>(
                std::chrono::duration<double>(seconds)));
  // Never sleep past the deadline: the next attempt could not start.
  if (auto deadline = ctx.deadline(); deadline && until >= *deadline) {
    return false;
  }
  if (sleep_until(ctx, until)) ctx.throw_if_done();  // canceled meanwhile
  return true;
}

}  // namespace tbbx::detail
