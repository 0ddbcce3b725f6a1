// spin_lock: a one-byte lock for critical sections of a few pointer writes.
// Internal.
//
// The context tree takes a lock to link a child, to mark a node done and to
// unlink it: a handful of stores each. A std::mutex costs 40 bytes per node
// and two calls; this costs one byte and one compare-and-swap. Waiters spin
// briefly and then yield, so a holder preempted on a busy machine does not
// make them burn their time slice. Never hold it across user code.
#ifndef TBBX_CONTEXT_DETAIL_SPIN_LOCK_H_
#define TBBX_CONTEXT_DETAIL_SPIN_LOCK_H_

#include <atomic>
#include <thread>

namespace tbbx::detail {

class spin_lock {
 public:
  void lock() noexcept {
    while (locked_.exchange(true, std::memory_order_acquire)) {
      wait_until_free();
    }
  }
  bool try_lock() noexcept {
    return !locked_.load(std::memory_order_relaxed) &&
           !locked_.exchange(true, std::memory_order_acquire);
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  void wait_until_free() noexcept {
    for (int spins = 0; locked_.load(std::memory_order_relaxed); ++spins) {
      if (spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
      } else {
        std::this_thread::yield();
      }
    }
  }

  std::atomic<bool> locked_{false};
};

}  // namespace tbbx::detail

#endif  // TBBX_CONTEXT_DETAIL_SPIN_LOCK_H_
