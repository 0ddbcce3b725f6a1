// SPDX-License-Identifier: Apache-2.0
#include "tbbx/context/detail/futex.h"

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#else
#include <thread>
#endif

namespace tbbx::detail {

#if defined(__linux__)

namespace {

long futex(const std::atomic<std::uint32_t>& word, int op, std::uint32_t val,
           const timespec* timeout, std::uint32_t val3) noexcept {
  return syscall(
      SYS_futex,
      const_cast<std::uint32_t*>(reinterpret_cast<const std::uint32_t*>(&word)),
      op, val, timeout, nullptr, val3);
}

}  // namespace

bool futex_wait(const std::atomic<std::uint32_t>& word, std::uint32_t expected,
                time_point until) noexcept {
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
  if (until == time_point::max()) {
    futex(word, FUTEX_WAIT_PRIVATE, expected, nullptr, 0);
    return true;
  }
  // steady_clock is CLOCK_MONOTONIC on Linux; FUTEX_WAIT_BITSET takes an
  // absolute time on it, so a wait interrupted by a signal resumes against
  // the same deadline.
  const auto since_epoch = until.time_since_epoch();
  if (since_epoch.count() < 0) return false;
  const auto secs =
      std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  timespec abs{};
  abs.tv_sec = static_cast<time_t>(secs.count());
  abs.tv_nsec = static_cast<long>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch - secs)
          .count());
  const long rc = futex(word, FUTEX_WAIT_BITSET_PRIVATE, expected, &abs,
                        FUTEX_BITSET_MATCH_ANY);
  return !(rc == -1 && errno == ETIMEDOUT);
}

void futex_wake(const std::atomic<std::uint32_t>& word, int count) noexcept {
  futex(word, FUTEX_WAKE_PRIVATE, static_cast<std::uint32_t>(count), nullptr,
        0);
}

#else  // Portable fallback: correct, but a timed wait polls.

bool futex_wait(const std::atomic<std::uint32_t>& word, std::uint32_t expected,
                time_point until) noexcept {
  if (until == time_point::max()) {
    word.wait(expected, std::memory_order_relaxed);
    return true;
  }
  while (word.load(std::memory_order_relaxed) == expected) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  return true;
}

void futex_wake(const std::atomic<std::uint32_t>& word, int count) noexcept {
  auto& w = const_cast<std::atomic<std::uint32_t>&>(word);
  if (count == 1) {
    w.notify_one();
  } else {
    w.notify_all();
  }
}

#endif

}  // namespace tbbx::detail
