// SPDX-License-Identifier: Apache-2.0
#include "tbbx/context/detail/pi_lock.h"

#include <cstdlib>
#include <thread>

#include "tbbx/context/detail/thread_role.h"

#if defined(__linux__)
#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#endif

namespace tbbx::detail {

namespace {

// A brief spin before sleeping: a holder is usually running and needs
// well under a microsecond.
constexpr int kSpins = 100;

void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

#if defined(__linux__)
// The forking thread keeps its cached id in the child, where it has
// another one.
const bool tid_cache_reset_on_fork = [] {
  pthread_atfork(nullptr, nullptr, [] { cached_thread_tid = 0; });
  return true;
}();
#endif

}  // namespace

constinit thread_local std::uint32_t cached_thread_tid = 0;

std::uint32_t load_thread_tid() noexcept {
#if defined(__linux__)
  cached_thread_tid = static_cast<std::uint32_t>(syscall(SYS_gettid));
#else
  cached_thread_tid = static_cast<std::uint32_t>(
      std::hash<std::thread::id>{}(std::this_thread::get_id()) | 1);
#endif
  return cached_thread_tid;
}

#if defined(__linux__)

void pi_lock::lock_contended() noexcept {
  const std::uint32_t self = this_thread_tid();
  if (!on_timer_thread()) {
    for (int i = 0; i < kSpins; ++i) {
      cpu_relax();
      if (word_.load(std::memory_order_relaxed) == 0) {
        std::uint32_t expected = 0;
        if (word_.compare_exchange_strong(expected, self,
                                          std::memory_order_acquire,
                                          std::memory_order_relaxed)) {
          return;
        }
      }
    }
  }
  for (;;) {
    const long rc = syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word_),
                            FUTEX_LOCK_PI_PRIVATE, 0, nullptr, nullptr, 0);
    if (rc == 0) break;
    if (errno == EINTR || errno == EAGAIN) continue;
    // EDEADLK (locked twice by one thread) or a corrupted word: a bug that
    // must not pass silently.
    std::abort();
  }
  // The kernel wrote our id into the word; this acquire pairs with the
  // release of the unlocking thread.
  (void)word_.load(std::memory_order_acquire);
}

void pi_lock::unlock_contended() noexcept {
  // FUTEX_WAITERS is set: the kernel picks the next owner. The release
  // RMW first publishes our writes to it.
  word_.fetch_or(0, std::memory_order_release);
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word_),
          FUTEX_UNLOCK_PI_PRIVATE, 0, nullptr, nullptr, 0);
}

#else  // A spin-then-yield fallback without priority inheritance.

void pi_lock::lock_contended() noexcept {
  const std::uint32_t self = this_thread_tid();
  for (int spins = 0;; ++spins) {
    std::uint32_t expected = 0;
    if (word_.load(std::memory_order_relaxed) == 0 &&
        word_.compare_exchange_weak(expected, self, std::memory_order_acquire,
                                    std::memory_order_relaxed)) {
      return;
    }
    if (spins < kSpins) {
      cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }
}

void pi_lock::unlock_contended() noexcept {
  word_.store(0, std::memory_order_release);
}

#endif

}  // namespace tbbx::detail
