// SPDX-License-Identifier: Apache-2.0
// semaphore: a weighted, fair semaphore (Go's x/sync/semaphore).
//
// clang-format off
//   tbbx::semaphore memory(std::int64_t{8} << 30);  // bytes held at once
//   memory.acquire(ctx, job.bytes);                 // waits; throws ctx.cause()
//   run(job);
//   memory.release(job.bytes);
// clang-format on
//
// acquire(ctx, n) takes n units, waiting while fewer are free; if ctx ends
// first it gives up, taking nothing, and throws ctx.cause(). A context that
// is done already wins even when units are free, and a waiter whose context
// ends as units are handed to it gives them back (Go issue 63615): a done
// context never acquires. Waiters are served strictly first in, first out:
// a large request at the head is not overtaken by small ones behind it, so
// it cannot starve. try_acquire(n) takes n units only if they are free and
// nobody waits, and never blocks. release(n) returns units and wakes the
// waiters that now fit, in order. Units are 64-bit, so a semaphore over
// bytes is natural.
//
// Errors: n <= 0, or n greater than the capacity (it could never be
// satisfied), throws std::invalid_argument; releasing more than is held
// throws std::logic_error. Thread-safe. Inside a tbbx task, a waiting
// acquire suspends the task rather than holding its worker (see
// context/detail/await.h), so releasers queued as tasks still run.
#ifndef TBBX_PATTERNS_SEMAPHORE_H_
#define TBBX_PATTERNS_SEMAPHORE_H_

#include "tbbx/context/detail/config.h"
#if TBBX_CPLUSPLUS >= 202002L  // otherwise config.h's #error is all

#include <cstddef>
#include <cstdint>
#include <mutex>

#include "tbbx/context/context.h"
#include "tbbx/context/detail/await.h"
#include "tbbx/context/detail/intrusive_list.h"

namespace tbbx {

class TBBX_API semaphore {
 public:
  explicit semaphore(std::int64_t capacity);
  semaphore(const semaphore&) = delete;
  semaphore& operator=(const semaphore&) = delete;

  void acquire(const context& ctx, std::int64_t n = 1);
  bool try_acquire(std::int64_t n = 1);
  void release(std::int64_t n = 1);

  std::int64_t capacity() const noexcept { return capacity_; }
  // available is the number of free units at this moment.
  std::int64_t available() const;
  // waiting is the number of acquire calls waiting at this moment.
  std::size_t waiting() const;

 private:
  struct waiter {
    explicit waiter(std::int64_t units) noexcept : n(units) {}
    const std::int64_t n;
    bool granted = false;            // guarded by mu_
    detail::list_hook<waiter> hook;  // guarded by mu_
    detail::waiter wake;             // notified when granted
  };

  void check(std::int64_t n, const char* caller) const;
  void grant_waiters_locked() noexcept;

  const std::int64_t capacity_;
  mutable std::mutex mu_;  // never taken by tbbx's own threads
  std::int64_t held_ = 0;  // guarded by mu_
  detail::intrusive_list<waiter, &waiter::hook> waiters_;  // FIFO; mu_
  std::size_t waiting_ = 0;                                // guarded by mu_
};

}  // namespace tbbx

#endif  // TBBX_CPLUSPLUS >= 202002L

#endif  // TBBX_PATTERNS_SEMAPHORE_H_
