// SPDX-License-Identifier: Apache-2.0
// hedge_budget: the decaying allowance of extra attempts behind a hedger.
// Internal: use <tbbx/patterns/hedge.h>.
//
// It counts recent requests and the extra attempts sent for them, and
// allows one more extra attempt while extra + 1 <= fraction * requests +
// floor (gRPC's retry throttling and Finagle's retry budget have this
// shape). When the request count reaches 2 * half_life both counts are
// halved, so old traffic is forgotten and the bound stays true across the
// halving. Both counts live in one 64-bit word (requests in the high half)
// and every change is one compare-and-swap: however many threads cross the
// halving point at once, it happens once and nothing underflows.
#ifndef TBBX_PATTERNS_DETAIL_HEDGE_BUDGET_H_
#define TBBX_PATTERNS_DETAIL_HEDGE_BUDGET_H_

#include <algorithm>
#include <atomic>
#include <cstdint>

namespace tbbx::detail {

class hedge_budget {
 public:
  hedge_budget(double fraction, std::uint32_t half_life,
               std::uint32_t floor) noexcept
      : fraction_(fraction), half_life_(half_life), floor_(floor) {}

  // on_request counts one request (and halves both counts when due).
  void on_request() noexcept {
    std::uint64_t word = word_.load(std::memory_order_relaxed);
    std::uint64_t next;
    do {
      std::uint64_t requests = (word >> 32) + 1;
      std::uint64_t extra = word & kLow;
      if (requests >= 2 * std::uint64_t{half_life_}) {
        requests -= requests / 2;
        extra -= extra / 2;
      }
      next = pack(requests, extra);
    } while (
        !word_.compare_exchange_weak(word, next, std::memory_order_relaxed));
  }

  // try_spend takes one extra attempt from the budget, or returns false.
  bool try_spend() noexcept {
    std::uint64_t word = word_.load(std::memory_order_relaxed);
    for (;;) {
      const std::uint64_t extra = word & kLow;
      const double allowed =
          fraction_ * static_cast<double>(word >> 32) + floor_;
      if (static_cast<double>(extra) + 1.0 > allowed || extra == kLow) {
        return false;
      }
      if (word_.compare_exchange_weak(word, pack(word >> 32, extra + 1),
                                      std::memory_order_relaxed)) {
        return true;
      }
    }
  }

  // counts is the current (decayed) requests and extra attempts, read
  // together.
  struct snapshot {
    std::uint64_t requests, extra;
  };
  snapshot counts() const noexcept {
    const std::uint64_t word = word_.load(std::memory_order_relaxed);
    return {word >> 32, word & kLow};
  }

 private:
  static constexpr std::uint64_t kLow = 0xffffffffu;
  static std::uint64_t pack(std::uint64_t requests,
                            std::uint64_t extra) noexcept {
    return (requests << 32) | std::min(extra, kLow);
  }

  const double fraction_;
  const std::uint32_t half_life_;
  const double floor_;
  std::atomic<std::uint64_t> word_{0};
};

}  // namespace tbbx::detail

#endif  // TBBX_PATTERNS_DETAIL_HEDGE_BUDGET_H_
