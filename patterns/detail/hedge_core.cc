#include "tbbx/patterns/detail/hedge_core.h"

#include <stdexcept>
#include <string>

#include "tbbx/patterns/multi_error.h"
#include "tbbx/scheduler/detail/default_arena.h"

namespace tbbx::detail {
namespace {

using clock = std::chrono::steady_clock;

// The timer may fire a hair before the due time it was armed for.
constexpr auto kTimerSlack = std::chrono::microseconds(2);

const std::exception_ptr& another_attempt_won() noexcept {
  static const std::exception_ptr cause = std::make_exception_ptr(
      canceled_error("tbbx::hedge: another attempt won"));
  return cause;
}

}  // namespace

void check_hedge_policy(const hedge_policy& policy, const char* caller) {
  if (policy.delay < clock::duration::zero()) {
    throw std::invalid_argument(std::string(caller) +
                                ": the hedge delay must not be negative");
  }
  if (policy.max_attempts < 1) {
    throw std::invalid_argument(std::string(caller) +
                                ": max_attempts must be at least 1, got " +
                                std::to_string(policy.max_attempts));
  }
}

hedge_core::delay_timer::delay_timer(hedge_core* owner) noexcept
    : timer_entry([](timer_entry* e) noexcept {
        static_cast<delay_timer*>(e)->core->fire();
      }),
      core(owner) {}

hedge_core::parent_watch::parent_watch(hedge_core* owner) noexcept
    : callback_node([](callback_node* cb) noexcept {
        hedge_core* self = static_cast<parent_watch*>(cb)->core;
        std::uint32_t expected = running;
        if (self->phase_.compare_exchange_strong(expected, parent_done,
                                                 std::memory_order_acq_rel)) {
          self->phase_.notify_all();
        }
      }),
      core(owner) {}

hedge_core::hedge_core(const context& parent, hedge_policy policy,
                       hedge_hooks* hooks, bool start_all)
    : policy_(policy),
      start_all_(start_all),
      hooks_(hooks),
      start_(clock::now()),
      parent_(parent),
      errors_(static_cast<std::size_t>(policy.max_attempts)) {
  auto [attempts, cancel] = with_cancel(parent_);
  attempts_ = std::move(attempts);
  cancel_attempts_ = std::move(cancel);
}

hedge_core::~hedge_core() {
  if (parent_watched_) {
    deregister_callback(context_access::get(parent_), &parent_watch_);
  }
}

void hedge_core::start() {
  node* parent_node = context_access::get(parent_);
  if (parent_node->can_end()) {
    parent_watched_ = register_callback(parent_node, &parent_watch_);
    if (!parent_watched_) {
      phase_.store(parent_done, std::memory_order_release);
      return;
    }
  }
  bool all_failed;
  {
    std::lock_guard lock(mu_);
    bool started;
    do {
      started = start_next_locked();
    } while (started && start_all_);
    all_failed = !started && settle_if_all_failed_locked();
  }
  if (all_failed) publish_failed();
}

bool hedge_core::settle_if_all_failed_locked() noexcept {
  if (decided_ || completed_ != started_) return false;
  decide_locked(-1);  // nothing running and nothing left to start
  return true;
}

void hedge_core::publish_failed() noexcept {
  phase_.store(failed, std::memory_order_release);
  phase_.notify_all();
}

bool hedge_core::start_next_locked() {
  if (decided_ || hedging_stopped_ || started_ >= policy_.max_attempts ||
      attempts_.done()) {  // the parent ended: nothing new starts
    return false;
  }
  const int index = started_;
  if (index > 0 && hooks_ != nullptr && !hooks_->allow_extra_attempt()) {
    hedging_stopped_ = true;  // the budget is spent: no more hedges here
    return false;
  }
  ++started_;
  if (hooks_ != nullptr) hooks_->on_attempt_started(index);
  ref();
  try {
    auto attempt = [this, index] {
      run_attempt(index);
      unref();
    };
    if (policy_.arena != nullptr) {
      policy_.arena->enqueue(std::move(attempt));
    } else {
      enqueue_task(std::move(attempt));
    }
  } catch (...) {
    // The attempt could not even be queued: it failed, and nothing runs it.
    errors_[static_cast<std::size_t>(index)] = std::current_exception();
    ++completed_;
    unref();
    return false;
  }
  return true;
}

void hedge_core::arm_timer_locked(clock::time_point when) {
  // Armed for an earlier time, the timer re-arms itself for next_due_ when
  // it fires; canceling and rescheduling it here would race with a firing.
  if (timer_armed_) return;
  timer_armed_ = true;
  ref();  // the timer's
  timer_service::instance().schedule(timer_, when);
}

void hedge_core::fire() noexcept {
  bool all_failed = false;
  {
    std::lock_guard lock(mu_);
    timer_armed_ = false;
    if (!decided_) {
      const clock::time_point now = clock::now();
      if (now + kTimerSlack >= next_due_) {
        bool started = false;
        try {
          started = start_next_locked();
        } catch (...) {
        }
        all_failed = !started && settle_if_all_failed_locked();
      } else {
        arm_timer_locked(next_due_);
      }
    }
  }
  if (all_failed) publish_failed();
  unref();  // the timer's
}

void hedge_core::run_attempt(int index) noexcept {
  {
    std::lock_guard lock(mu_);
    if (decided_) {  // a winner exists: this attempt is never started
      ++completed_;
      return;
    }
    // The delay runs from when an attempt really starts, not from when it
    // was queued: an attempt waiting for a thread is not yet slow.
    if (!start_all_ && index + 1 == started_ &&
        started_ < policy_.max_attempts) {
      next_due_ = clock::now() + policy_.delay;
      arm_timer_locked(next_due_);
    }
  }
  try {
    invoke(attempts_, index);
  } catch (...) {
    record_failure(index, std::current_exception());
    return;
  }
  std::lock_guard lock(mu_);
  ++completed_;
}

void hedge_core::record_failure(int index, std::exception_ptr e) noexcept {
  bool all_failed = false;
  {
    std::lock_guard lock(mu_);
    errors_[static_cast<std::size_t>(index)] = std::move(e);
    ++completed_;
    if (decided_) return;
    bool started = false;
    try {
      started = start_next_locked();  // at once after a failure
    } catch (...) {
    }
    all_failed = !started && settle_if_all_failed_locked();
  }
  if (all_failed) publish_failed();
}

bool hedge_core::try_win(int index) noexcept {
  std::lock_guard lock(mu_);
  if (decided_) return false;
  decide_locked(index);
  return true;
}

void hedge_core::publish_win() noexcept {
  cancel_attempts_(another_attempt_won());  // the losers stop now
  phase_.store(won, std::memory_order_release);
  phase_.notify_all();
}

void hedge_core::decide_locked(int winner) noexcept {
  decided_ = true;
  winner_ = winner;
  if (hooks_ != nullptr) {
    const int still_running = started_ - completed_ - (winner >= 0 ? 1 : 0);
    hooks_->on_decided(winner, still_running, clock::now() - start_);
  }
}

void hedge_core::await() {
  for (;;) {
    phase_.wait(running, std::memory_order_acquire);
    const std::uint32_t phase = phase_.load(std::memory_order_acquire);
    if (phase == won) {
      finish_caller();
      return;
    }
    if (phase == failed) {
      finish_caller();
      // Attempts that failed because the parent ended report the parent's
      // cause, as if it had ended first (it did).
      if (parent_.done()) std::rethrow_exception(parent_.cause());
      std::vector<std::exception_ptr> errors;
      {
        std::lock_guard lock(mu_);
        errors = errors_;
      }
      throw multi_error(std::move(errors));
    }
    // The parent ended. Unless an attempt decided first (then it is about
    // to publish), the request is abandoned.
    bool abandoned = false;
    {
      std::lock_guard lock(mu_);
      if (!decided_) {
        decide_locked(-1);
        abandoned = true;
      }
    }
    if (abandoned) {
      finish_caller();
      std::rethrow_exception(parent_.cause());
    }
    phase_.wait(parent_done, std::memory_order_acquire);
  }
}

void hedge_core::finish_caller() noexcept {
  cancel_attempts_(another_attempt_won());  // the losers, if any
  {
    std::lock_guard lock(mu_);
    if (timer_armed_ && timer_service::instance().cancel(timer_)) {
      timer_armed_ = false;
      unref();  // the timer's; the caller still holds one
    }
  }
  if (parent_watched_) {
    deregister_callback(context_access::get(parent_), &parent_watch_);
    parent_watched_ = false;
  }
}

}  // namespace tbbx::detail
