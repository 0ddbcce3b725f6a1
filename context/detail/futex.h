// SPDX-License-Identifier: Apache-2.0
// futex: wait on and wake a 32-bit atomic word. Internal.
//
// The blocking primitives of the context core (context waits, the parker
// behind every "wait until X or the context ends", the timer thread's
// sleep) are built on these two calls, so that a waker never takes a lock:
// it stores and wakes, which never blocks. Waits may return spuriously;
// callers loop on their condition.
#ifndef TBBX_CONTEXT_DETAIL_FUTEX_H_
#define TBBX_CONTEXT_DETAIL_FUTEX_H_

#include <atomic>
#include <chrono>
#include <cstdint>

#include "tbbx/context/detail/export.h"

namespace tbbx::detail {

using time_point = std::chrono::steady_clock::time_point;

// futex_wait blocks while `*word == expected`, until woken, or until the
// steady clock reaches `until` (time_point::max(): no limit). It returns
// false only when `until` has passed.
TBBX_API bool futex_wait(const std::atomic<std::uint32_t>& word,
                         std::uint32_t expected,
                         time_point until = time_point::max()) noexcept;

// futex_wake wakes up to `count` threads waiting on `word`. `word` may have
// been destroyed already (a woken waiter may return and free it first):
// the address is only a key, and a stray wake-up is one more spurious
// return for whoever waits there next.
TBBX_API void futex_wake(const std::atomic<std::uint32_t>& word,
                         int count = 1) noexcept;
inline void futex_wake_all(const std::atomic<std::uint32_t>& word) noexcept {
  futex_wake(word, 0x7fffffff);
}

}  // namespace tbbx::detail

#endif  // TBBX_CONTEXT_DETAIL_FUTEX_H_
