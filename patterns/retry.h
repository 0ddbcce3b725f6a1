// SPDX-License-Identifier: Apache-2.0
// retry: run a function until it succeeds, with exponential backoff and
// jitter, bounded by a context.
//
// clang-format off
//   auto page = tbbx::retry(ctx, {.initial = 10ms, .max = 1s, .max_attempts = 5},
//                           [&](const tbbx::context& ctx) { return fetch(ctx, url); });
// clang-format on
//
// retry(ctx, b, f) calls f(ctx); on an exception it waits and calls again.
// The waits grow from `initial` by `multiplier` up to `max`, each scaled by
// a random factor in [1 - jitter, 1 + jitter] so that many clients retrying
// together spread out. It gives up, rethrowing f's last exception, when
// max_attempts calls have failed, when `retry_if` says the error is not
// worth retrying, or when the next wait would end past ctx's deadline (it
// never sleeps past it). If ctx is canceled it stops waiting at once and
// throws ctx.cause(); it throws ctx.cause() too if ctx is done before a
// call. Bad options throw std::invalid_argument. f's result is returned;
// f may return void.
#ifndef TBBX_PATTERNS_RETRY_H_
#define TBBX_PATTERNS_RETRY_H_

#include "tbbx/context/detail/config.h"
#if TBBX_CPLUSPLUS >= 202002L  // otherwise config.h's #error is all

#include <chrono>
#include <concepts>
#include <exception>
#include <functional>
#include <type_traits>
#include <utility>

#include "tbbx/context/context.h"

namespace tbbx {

struct backoff {
  std::chrono::steady_clock::duration initial = std::chrono::milliseconds(1);
  std::chrono::steady_clock::duration max = std::chrono::seconds(1);
  double multiplier = 2.0;
  double jitter = 0.2;    // in [0, 1]
  int max_attempts = -1;  // < 0: until ctx ends; 0 is rejected
  // retry_if decides whether an error is worth another attempt; null: all.
  std::function<bool(const std::exception_ptr&)> retry_if = nullptr;
};

namespace detail {

TBBX_API void check_backoff(const backoff& b);

// retry_wait waits before attempt `failures` + 1 and returns true, or
// returns false at once when the policy says to give up; it throws
// ctx.cause() if ctx ends while waiting.
TBBX_API bool retry_wait(const context& ctx, const backoff& b, int failures,
                         const std::exception_ptr& error);

}  // namespace detail

template <class F>
  requires std::invocable<F&, const context&>
auto retry(const context& ctx, backoff b, F&& f)
    -> std::invoke_result_t<F&, const context&> {
  detail::check_backoff(b);
  for (int failures = 0;;) {
    ctx.throw_if_done();
    std::exception_ptr error;
    try {
      return f(ctx);
    } catch (...) {
      error = std::current_exception();
    }
    ++failures;
    if (!detail::retry_wait(ctx, b, failures, error)) {
      std::rethrow_exception(error);
    }
  }
}

}  // namespace tbbx

#endif  // TBBX_CPLUSPLUS >= 202002L

#endif  // TBBX_PATTERNS_RETRY_H_
