// SPDX-License-Identifier: Apache-2.0
// pi_lock: a 4-byte mutex with priority inheritance. Internal.
//
// Every lock that tbbx's real-time timer thread can take is a pi_lock: the
// context tree's node locks and the timer wheel's lock. On Linux it is a PI
// futex: the word holds the owner's thread id, so an uncontended lock or
// unlock is one compare-and-swap in user space, and a contended lock sleeps
// in the kernel, which raises the owner to the waiter's priority until it
// unlocks. So when the timer thread (SCHED_FIFO) needs a lock that a
// preempted normal-priority thread holds, that thread runs at once, finishes
// its few stores and hands the lock over: no spinning, no priority
// inversion. A spin lock that falls back to yield() could not do that:
// under SCHED_FIFO yield() never lets a SCHED_OTHER thread run.
//
// Other threads spin for a moment (about a microsecond) before sleeping,
// since the critical sections are a handful of pointer writes; the timer
// thread never spins. Holders never run user code.
//
// Memory ordering: lock() acquires and unlock() releases, also when the
// kernel hands the lock over (both sides touch the word atomically around
// the system call, which also keeps ThreadSanitizer's view exact).
//
// fork(): a child process may use locks that were free at fork time. A
// lock held by another thread when fork() was called stays held forever
// in the child, as with any mutex.
#ifndef TBBX_CONTEXT_DETAIL_PI_LOCK_H_
#define TBBX_CONTEXT_DETAIL_PI_LOCK_H_

#include <atomic>
#include <cstdint>

#include "tbbx/context/detail/chaos.h"
#include "tbbx/context/detail/export.h"

namespace tbbx::detail {

// The calling thread's kernel thread id, or 0 until first asked for (and
// again in a fork()ed child). Defined in the .cc, like thread_role.h's
// variable, so that a shared build has one copy; constinit, so that reading
// it is a plain TLS load with no initialization guard.
TBBX_API extern constinit thread_local std::uint32_t cached_thread_tid;
// load_thread_tid asks the kernel and caches the answer.
TBBX_API std::uint32_t load_thread_tid() noexcept;

// this_thread_tid is the calling thread's kernel thread id. Inline: every
// lock and unlock of a pi_lock reads it.
inline std::uint32_t this_thread_tid() noexcept {
  const std::uint32_t tid = cached_thread_tid;
  return tid != 0 ? tid : load_thread_tid();
}

class pi_lock {
 public:
  constexpr pi_lock() noexcept = default;
  pi_lock(const pi_lock&) = delete;
  pi_lock& operator=(const pi_lock&) = delete;

  void lock() noexcept {
    TBBX_CHAOS_POINT();
    std::uint32_t expected = 0;
    if (!word_.compare_exchange_strong(expected, this_thread_tid(),
                                       std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
      lock_contended();
    }
  }

  // try_lock may fail spuriously (it does, now and then, in the chaos
  // build, so that callers' fallbacks are tested).
  bool try_lock() noexcept {
    if (TBBX_CHAOS_REFUSE()) return false;
    std::uint32_t expected = 0;
    return word_.compare_exchange_strong(expected, this_thread_tid(),
                                         std::memory_order_acquire,
                                         std::memory_order_relaxed);
  }

  void unlock() noexcept {
    std::uint32_t expected = this_thread_tid();
    if (!word_.compare_exchange_strong(expected, 0, std::memory_order_release,
                                       std::memory_order_relaxed)) {
      unlock_contended();
    }
  }

  // held_by_anyone: for a fork()ed child, where a lock held by anyone is
  // held by a thread that does not exist here.
  bool held_by_anyone() const noexcept {
    return word_.load(std::memory_order_relaxed) != 0;
  }
  // reset_after_fork forgets an owner that does not exist in a fork()ed
  // child. Only for locks the child knows nobody can hold.
  void reset_after_fork() noexcept {
    word_.store(0, std::memory_order_relaxed);
  }

 private:
  void lock_contended() noexcept;
  void unlock_contended() noexcept;

  std::atomic<std::uint32_t> word_{0};  // 0, or owner tid | kernel flags
};

}  // namespace tbbx::detail

#endif  // TBBX_CONTEXT_DETAIL_PI_LOCK_H_
