// SPDX-License-Identifier: Apache-2.0
#include <cmath>
#include <stdexcept>
#include <string>

#include "tbbx/patterns/hedge.h"

namespace tbbx {
namespace {

constexpr std::uint32_t kHalfLife = 1000;    // samples, and requests
constexpr std::uint32_t kMinLatencies = 32;  // before the quantile is used
constexpr std::uint64_t kRelearnEvery = 16;  // latencies between updates
constexpr std::uint64_t kBudgetFloor = 3;    // extra attempts always allowed

hedger_options checked(hedger_options o) {
  if (!(o.quantile > 0.0 && o.quantile <= 1.0)) {
    throw std::invalid_argument(
        "tbbx::hedger: quantile must be in (0, 1], got " +
        std::to_string(o.quantile));
  }
  if (!(o.budget >= 0.0) || std::isinf(o.budget)) {
    throw std::invalid_argument(
        "tbbx::hedger: budget must be a finite non-negative fraction, got " +
        std::to_string(o.budget));
  }
  detail::check_hedge_plan(o.initial_delay, o.max_attempts, "tbbx::hedger");
  return o;
}

}  // namespace

hedger::hedger(options opts) : options_(checked(opts)), hooks_(options_) {}

hedger::adaptive_hooks::adaptive_hooks(const options& o)
    : opts(o),
      latencies(kHalfLife),
      delay_ns(
          std::chrono::duration_cast<std::chrono::nanoseconds>(o.initial_delay)
              .count()),
      budget(o.budget, kHalfLife, kBudgetFloor) {}

void hedger::adaptive_hooks::on_request() noexcept {
  requests.fetch_add(1, std::memory_order_relaxed);
  budget.on_request();
}

bool hedger::adaptive_hooks::allow_extra_attempt() noexcept {
  if (budget.try_spend()) return true;
  budget_refusals.fetch_add(1, std::memory_order_relaxed);
  return false;
}

void hedger::adaptive_hooks::on_attempt_started(int index) noexcept {
  attempts.fetch_add(1, std::memory_order_relaxed);
  if (index > 0) hedges.fetch_add(1, std::memory_order_relaxed);
}

void hedger::adaptive_hooks::on_decided(
    int winner, int canceled,
    std::chrono::steady_clock::duration latency) noexcept {
  if (canceled > 0) {
    canceled_attempts.fetch_add(static_cast<std::uint64_t>(canceled),
                                std::memory_order_relaxed);
  }
  if (winner < 0) return;
  (winner == 0 ? original_wins : hedge_wins)
      .fetch_add(1, std::memory_order_relaxed);
  latencies.record(
      std::chrono::duration_cast<std::chrono::nanoseconds>(latency));
  if (learned.fetch_add(1, std::memory_order_relaxed) % kRelearnEvery == 0) {
    if (auto q = latencies.quantile(opts.quantile, kMinLatencies)) {
      delay_ns.store(q->count(), std::memory_order_relaxed);
    }
  }
}

hedge_stats hedger::stats() const {
  hedge_stats s;
  s.requests = hooks_.requests.load(std::memory_order_relaxed);
  s.attempts = hooks_.attempts.load(std::memory_order_relaxed);
  s.hedges = hooks_.hedges.load(std::memory_order_relaxed);
  s.hedge_wins = hooks_.hedge_wins.load(std::memory_order_relaxed);
  s.delay = current_delay();
  s.original_wins = hooks_.original_wins.load(std::memory_order_relaxed);
  s.budget_refusals = hooks_.budget_refusals.load(std::memory_order_relaxed);
  s.canceled_attempts =
      hooks_.canceled_attempts.load(std::memory_order_relaxed);
  return s;
}

}  // namespace tbbx
