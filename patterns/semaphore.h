// semaphore: a weighted, fair semaphore (Go's x/sync/semaphore).
//
//   tbbx::semaphore memory(8 << 30);          // bytes we may hold at once
//   memory.acquire(ctx, job.bytes);           // waits; throws ctx.cause()
//   run(job);
//   memory.release(job.bytes);
//
// acquire(ctx, n) takes n units, waiting while fewer are free; if ctx ends
// first it gives up (taking nothing) and throws ctx.cause(). Waiters are
// served strictly first in, first out: a large request at the head is not
// overtaken by small ones behind it, so it cannot starve. try_acquire(n)
// takes n units only if they are free and nobody waits, and never blocks.
// release(n) returns units and wakes the waiters that now fit, in order.
//
// Errors: n <= 0, or n greater than the capacity (it could never be
// satisfied), throws std::invalid_argument; releasing more than is held
// throws std::logic_error. Thread-safe. acquire blocks its thread (it does
// not run other tasks): inside oneTBB tasks, waiting tasks hold their
// worker.
#ifndef TBBX_PATTERNS_SEMAPHORE_H_
#define TBBX_PATTERNS_SEMAPHORE_H_

#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "tbbx/context/context.h"

namespace tbbx {

class semaphore {
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

 private:
  struct waiter {
    explicit waiter(std::int64_t units) : n(units) {}
    const std::int64_t n;
    bool granted = false;        // guarded by mu_
    waiter* next = nullptr;      // guarded by mu_
    std::condition_variable cv;  // signaled when granted or ctx ends
  };

  void check(std::int64_t n, const char* caller) const;
  void grant_waiters_locked() noexcept;
  void remove_locked(waiter* w) noexcept;

  const std::int64_t capacity_;
  mutable std::mutex mu_;
  std::int64_t held_ = 0;    // guarded by mu_
  waiter* first_ = nullptr;  // FIFO; guarded by mu_
  waiter* last_ = nullptr;   // guarded by mu_
};

}  // namespace tbbx

#endif  // TBBX_PATTERNS_SEMAPHORE_H_
