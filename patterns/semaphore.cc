#include "tbbx/patterns/semaphore.h"

#include <stdexcept>
#include <string>

#include "tbbx/context/callbacks.h"

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

bool semaphore::try_acquire(std::int64_t n) {
  check(n, "tbbx::semaphore::try_acquire");
  std::lock_guard lock(mu_);
  if (first_ != nullptr || capacity_ - held_ < n) return false;
  held_ += n;
  return true;
}

void semaphore::acquire(const context& ctx, std::int64_t n) {
  check(n, "tbbx::semaphore::acquire");
  std::unique_lock lock(mu_);
  if (first_ == nullptr && capacity_ - held_ >= n) {
    held_ += n;
    return;
  }
  ctx.throw_if_done();
  waiter me(n);
  (last_ != nullptr ? last_->next : first_) = &me;
  last_ = &me;
  {
    // Registered without mu_ held: if ctx ends at once the callback runs
    // here, and it takes mu_.
    lock.unlock();
    auto wake = on_done(ctx, [&] {
      std::lock_guard l(mu_);
      me.cv.notify_one();
    });
    lock.lock();
    me.cv.wait(lock, [&] { return me.granted || ctx.done(); });
    if (!me.granted) {
      // Gave up. Leaving the head of the queue may let others in.
      remove_locked(&me);
      grant_waiters_locked();
      lock.unlock();
      ctx.throw_if_done();
    }
  }  // `wake` deregisters (and waits for a running callback) before `me` dies
}

void semaphore::release(std::int64_t n) {
  if (n <= 0) {
    throw std::invalid_argument(
        "tbbx::semaphore::release: n must be positive, got " +
        std::to_string(n));
  }
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
  while (first_ != nullptr && capacity_ - held_ >= first_->n) {
    waiter* w = first_;
    held_ += w->n;
    w->granted = true;
    first_ = w->next;
    if (first_ == nullptr) last_ = nullptr;
    w->cv.notify_one();
  }
}

void semaphore::remove_locked(waiter* w) noexcept {
  waiter* previous = nullptr;
  for (waiter* p = first_; p != nullptr; previous = p, p = p->next) {
    if (p == w) {
      (previous != nullptr ? previous->next : first_) = w->next;
      if (last_ == w) last_ = previous;
      return;
    }
  }
}

}  // namespace tbbx
