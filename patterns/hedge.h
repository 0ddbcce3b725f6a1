// SPDX-License-Identifier: Apache-2.0
// Hedged tasks: start a second attempt when the first is slow, keep the
// first success, cancel the rest (Dean and Barroso, "The Tail at Scale").
//
// clang-format off
//   auto answer = tbbx::hedge(ctx, {.delay = 300us, .max_attempts = 2},
//                             [&](const tbbx::context& attempt) {
//                               return search(attempt, query);  // polls attempt.done()
//                             });
//
//   tbbx::hedger hedged;            // learns the delay (p95) and keeps
//   auto r = hedged(ctx, lookup);   // extra attempts inside a budget
// clang-format on
//
// hedge(ctx, policy, f) starts attempt 1 at once; each `delay` without a
// success, and at once after a failure, it starts the next, up to
// max_attempts. The first success is returned and the other attempts'
// context is canceled (cause: canceled_error "another attempt won"); hedge()
// does not wait for them. If every attempt fails it throws a multi_error of
// their errors; if ctx ends first it throws ctx.cause(). Attempts not yet
// started when a winner exists are never started. A delay too long to add
// to the clock means no further attempt is ever started on a timer.
//
// f is called as f(const context& attempt) -> R (R may be void), possibly
// from several attempts at once, so it must be safe to call concurrently; it
// is copied into state the attempts share, which lives until the last
// attempt ends. Anything f captures by reference must outlive every attempt,
// not only the call: losers keep running until they notice their context
// is done, so poll attempt.done() in long loops.
//
// Attempts run as tasks on tbbx's default arena (or policy.arena), which
// has one worker per hardware thread and reserves none for callers: a
// thread blocked in hedge() does not take a core's worth of parallelism
// with it, so on 2 cores attempt 2 runs beside a slow attempt 1. Called
// from inside a tbbx task (an attempt, a group's task), hedge() suspends
// that task instead of blocking its worker, so nested hedges make progress
// on any arena size. Delays are served by the timer service (no polling;
// sub-millisecond delays are honoured).
//
// Bad policies (delay < 0, max_attempts < 1) throw std::invalid_argument.
// hedge() and a hedger are thread-safe: many requests may run at once.
#ifndef TBBX_PATTERNS_HEDGE_H_
#define TBBX_PATTERNS_HEDGE_H_

#include "tbbx/context/detail/config.h"
#if TBBX_CPLUSPLUS >= 202002L  // otherwise config.h's #error is all

#include <atomic>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "tbbx/context/context.h"
#include "tbbx/patterns/detail/hedge_budget.h"
#include "tbbx/patterns/detail/hedge_core.h"
#include "tbbx/patterns/detail/latency_histogram.h"
#include "tbbx/scheduler/arena.h"

namespace tbbx {

// hedge_policy: start attempt 1 at once and one more each `delay` without a
// success (or at once after a failure), up to max_attempts in all, as tasks
// of `arena` (tbbx's default arena if null).
struct hedge_policy {
  std::chrono::steady_clock::duration delay{};
  int max_attempts = 2;
  tbbx::arena* arena = nullptr;
};

// hedge_callable: what hedge() accepts.
// clang-format off
template <class F>
concept hedge_callable =
    std::copy_constructible<std::decay_t<F>> &&
    std::invocable<const std::decay_t<F>&, const context&>;
// clang-format on

template <hedge_callable F>
auto hedge(const context& ctx, hedge_policy policy, F&& f) {
  detail::check_hedge_plan(policy.delay, policy.max_attempts, "tbbx::hedge");
  using result = std::invoke_result_t<const std::decay_t<F>&, const context&>;
  return detail::run_hedged<result>(
      ctx,
      detail::hedge_plan{
          policy.delay, policy.max_attempts,
          policy.arena != nullptr ? &policy.arena->native() : nullptr},
      std::forward<F>(f), nullptr);
}

// hedge_stats counts what a hedger did. The last three are what users of
// Go's hedgedhttp watch: how often the original still wins, how often the
// budget said no, and how much work was thrown away.
struct hedge_stats {
  std::uint64_t requests = 0;
  std::uint64_t attempts = 0;    // started, originals included
  std::uint64_t hedges = 0;      // started after the first
  std::uint64_t hedge_wins = 0;  // requests won by an attempt after the first
  std::chrono::steady_clock::duration delay{};  // the current hedge delay
  std::uint64_t original_wins = 0;
  std::uint64_t budget_refusals = 0;    // hedges not sent: budget spent
  std::uint64_t canceled_attempts = 0;  // attempts running when a winner won
};

struct hedger_options {
  double quantile = 0.95;  // the delay tracks this latency quantile
  double budget = 0.05;    // extra attempts per request, over recent traffic
  std::chrono::steady_clock::duration initial_delay =
      std::chrono::milliseconds(1);  // until enough latencies are known
  int max_attempts = 2;
  tbbx::arena* arena = nullptr;  // where attempts run (default: tbbx's)
};

// hedger is hedge() with a delay it learns and a budget it keeps.
//
// The delay is the `quantile` of the latencies of recent successful
// requests, from a streaming log-bucket histogram (bounded memory, no sort,
// halved every 1,000 samples so it follows a workload that changes); until
// 32 latencies are known it is initial_delay. Extra attempts stay within
// `budget` of recent requests, as gRPC's retry throttling and Finagle's
// retry budget do: extra attempts <= budget * requests + 3, both counts
// decaying together; a hedge that would exceed it is not sent and is
// counted in budget_refusals. A hedger must outlive the calls made through
// it (not their losing attempts).
class TBBX_API hedger {
 public:
  using options = hedger_options;

  hedger() : hedger(options{}) {}
  explicit hedger(options opts);
  hedger(const hedger&) = delete;
  hedger& operator=(const hedger&) = delete;

  template <hedge_callable F>
  auto operator()(const context& ctx, F&& f) {
    using result = std::invoke_result_t<const std::decay_t<F>&, const context&>;
    hooks_.on_request();
    return detail::run_hedged<result>(
        ctx,
        detail::hedge_plan{
            current_delay(), options_.max_attempts,
            options_.arena != nullptr ? &options_.arena->native() : nullptr},
        std::forward<F>(f), &hooks_);
  }

  hedge_stats stats() const;

  // current_delay is the delay the next request will use.
  std::chrono::steady_clock::duration current_delay() const noexcept {
    return std::chrono::nanoseconds(
        hooks_.delay_ns.load(std::memory_order_relaxed));
  }

 private:
  struct adaptive_hooks final : detail::hedge_hooks {
    explicit adaptive_hooks(const options& o);
    void on_request() noexcept;
    bool allow_extra_attempt() noexcept override;
    void on_attempt_started(int index) noexcept override;
    void on_decided(
        int winner, int canceled,
        std::chrono::steady_clock::duration latency) noexcept override;

    const options& opts;
    detail::latency_histogram latencies;
    std::atomic<std::int64_t> delay_ns;
    detail::hedge_budget budget;
    // Lifetime counters for stats().
    std::atomic<std::uint64_t> requests{0}, attempts{0}, hedges{0},
        hedge_wins{0}, original_wins{0}, budget_refusals{0},
        canceled_attempts{0}, learned{0};
  };

  const options options_;
  adaptive_hooks hooks_;
};

}  // namespace tbbx

#endif  // TBBX_CPLUSPLUS >= 202002L

#endif  // TBBX_PATTERNS_HEDGE_H_
