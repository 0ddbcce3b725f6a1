// SPDX-License-Identifier: Apache-2.0
#include "tbbx/patterns/semaphore.h"

#include <stdexcept>
#include <string>

#include "tbbx/context/detail/chaos.h"

namespace tbbx {

semaphore::semaphore(std::int64_t capacity) : capacity_(capacity) {
  if (capacity <= 0) {
    throw std::invalid_argument(
        "tbbx::semaphore: the capacity must be positive, got " +
        std::to_string(capacity));
  }
}

void semaphore::check(std::int64_t n, const char* caller) const {
  if (n <= 0 || n > capacity_) {
    throw std::invalid_argument(
        std::string(caller) + ": asked for " + std::to_string(n) +
        " units of a semaphore of capacity " + std::to_string(capacity_) +
        " (must be in 1.." + std::to_string(capacity_) + ")");
  }
}

std::int64_t semaphore::available() const {
  std::lock_guard lock(mu_);
  return capacity_ - held_;
}

std::size_t semaphore::waiting() const {
  std::lock_guard lock(mu_);
  return waiting_;
}

bool semaphore::try_acquire(std::int64_t n) {
  check(n, "tbbx::semaphore::try_acquire");
  std::lock_guard lock(mu_);
  if (!waiters_.empty() || capacity_ - held_ < n) return false;
  held_ += n;
  return true;
}

void semaphore::acquire(const context& ctx, std::int64_t n) {
  check(n, "tbbx::semaphore::acquire");
  // A context already done wins, even over free units (Go issue 63615).
  ctx.throw_if_done();
  TBBX_CHAOS_POINT();
  std::unique_lock lock(mu_);
  if (waiters_.empty() && capacity_ - held_ >= n) {
    // Checked again under the lock: units freed by a release that came
    // after the cancel must not reach this caller either.
    if (ctx.done()) {
      lock.unlock();
      ctx.throw_if_done();
    }
    held_ += n;
    return;
  }
  waiter me(n);
  waiters_.push_back(&me);  // nothing below throws until `me` is unlinked
  ++waiting_;
  detail::await_status status;
  try {
    status = detail::await(lock, ctx, me.wake, [&] { return me.granted; });
  } catch (...) {  // bad_alloc watching a group's context: give up cleanly
    --waiting_;
    if (!me.granted) {
      waiters_.remove(&me);
      grant_waiters_locked();
    } else {
      held_ -= n;
      grant_waiters_locked();
    }
    throw;
  }
  --waiting_;
  if (status == detail::await_status::ready && !ctx.done()) return;
  // The context ended: take nothing, even if units were handed to us as it
  // did; either way the queue may now let others in.
  if (me.granted) {
    held_ -= n;
  } else {
    waiters_.remove(&me);
  }
  grant_waiters_locked();
  lock.unlock();
  ctx.throw_if_done();
}

void semaphore::release(std::int64_t n) {
  if (n <= 0) {
    throw std::invalid_argument(
        "tbbx::semaphore::release: n must be positive, got " +
        std::to_string(n));
  }
  TBBX_CHAOS_POINT();
  std::lock_guard lock(mu_);
  if (n > held_) {
    throw std::logic_error("tbbx::semaphore::release: released " +
                           std::to_string(n) + " units but only " +
                           std::to_string(held_) + " are held");
  }
  held_ -= n;
  grant_waiters_locked();
}

void semaphore::grant_waiters_locked() noexcept {
  // Strict FIFO: stop at the first waiter that does not fit.
  while (waiter* w = waiters_.front()) {
    if (capacity_ - held_ < w->n) break;
    held_ += w->n;
    waiters_.pop_front();
    w->granted = true;
    w->wake.notify();  // never blocks; `w` lives until its acquire returns
  }
}

}  // namespace tbbx
