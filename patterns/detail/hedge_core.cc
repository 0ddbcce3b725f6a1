// SPDX-License-Identifier: Apache-2.0
#include "tbbx/patterns/detail/hedge_core.h"

#include <stdexcept>
#include <string>

#include "tbbx/context/detail/ambient.h"
#include "tbbx/context/detail/chaos.h"
#include "tbbx/context/detail/default_arena.h"
#include "tbbx/context/detail/timer_service.h"
#include "tbbx/context/multi_error.h"

namespace tbbx::detail {
namespace {

using clock = std::chrono::steady_clock;

const std::exception_ptr& another_attempt_won() noexcept {
  static const std::exception_ptr* const cause =
      new std::exception_ptr(std::make_exception_ptr(
          canceled_error("tbbx::hedge: another attempt won")));
  return *cause;
}

}  // namespace

void check_hedge_plan(clock::duration delay, int max_attempts,
                      const char* caller) {
  if (delay < clock::duration::zero()) {
    throw std::invalid_argument(std::string(caller) +
                                ": the hedge delay must not be negative");
  }
  if (max_attempts < 1) {
    throw std::invalid_argument(std::string(caller) +
                                ": max_attempts must be at least 1, got " +
                                std::to_string(max_attempts));
  }
}

hedge_core::delay_timer::delay_timer(hedge_core* owner) noexcept
    : timer_entry(
          [](timer_entry* e) noexcept {
            static_cast<delay_timer*>(e)->core->fire();
          },
          // It starts a oneTBB task: the deferred runner fires it.
          timer_entry::where::deferred),
      core(owner) {}

hedge_core::hedge_core(const context& parent, hedge_plan plan,
                       hedge_hooks* hooks)
    : plan_(plan), hooks_(hooks), start_(clock::now()), parent_(parent) {
  auto [attempts, cancel] = with_cancel(parent_);
  attempts_ = std::move(attempts);
  cancel_attempts_ = std::move(cancel);
}

hedge_core::~hedge_core() = default;

void hedge_core::start() {
  if (!plan_.start_all && plan_.max_attempts > 1) {
    // Arming happens in noexcept paths later: make sure the timer runs.
    timer_service::instance().start();
  }
  std::lock_guard lock(mu_);
  bool started;
  do {
    started = start_next_locked();
  } while (started && plan_.start_all);
  if (!started) settle_if_all_failed_locked();
}

bool hedge_core::start_next_locked() noexcept {
  if (decided_ || hedging_stopped_ || started_ >= plan_.max_attempts ||
      attempts_.done()) {  // the parent ended: nothing new starts
    return false;
  }
  const int index = started_;
  if (index > 0 && hooks_ != nullptr && !hooks_->allow_extra_attempt()) {
    hedging_stopped_ = true;  // the budget is spent: no more hedges here
    return false;
  }
  // Memory follows the attempts started, not max_attempts.
  try {
    errors_.emplace_back();
  } catch (...) {
    start_failure_ = std::current_exception();
    return false;
  }
  ++started_;
  if (hooks_ != nullptr) hooks_->on_attempt_started(index);
  ref();
  try {
    tbb::task_arena& where =
        plan_.arena != nullptr ? *plan_.arena : default_arena();
    where.enqueue([this, index] {
      run_attempt(index);
      unref();
    });
  } catch (...) {
    // The attempt could not even be queued: nothing runs it. It is not an
    // attempt's error; the request reports it if no attempt ran to fail.
    start_failure_ = std::current_exception();
    ++completed_;
    unref();
    return false;
  }
  return true;
}

void hedge_core::arm_timer_locked(clock::time_point when) noexcept {
  // Armed for an earlier time, the timer re-arms itself for next_due_ when
  // it fires; canceling and rescheduling it here would race with a firing.
  if (timer_armed_) return;
  timer_armed_ = true;
  ref();  // the timer's
  timer_service::instance().schedule(timer_, when);
}

void hedge_core::fire() noexcept {
  {
    std::lock_guard lock(mu_);
    timer_armed_ = false;
    if (!decided_) {
      if (clock::now() >= next_due_) {
        if (!start_next_locked()) settle_if_all_failed_locked();
      } else {
        arm_timer_locked(next_due_);
      }
    }
  }
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
    // was queued: an attempt waiting for a thread is not yet slow. A delay
    // too long to add to now() never starts another attempt.
    if (!plan_.start_all && index + 1 == started_ &&
        started_ < plan_.max_attempts) {
      next_due_ = deadline_after(plan_.delay);
      if (next_due_ != no_deadline) arm_timer_locked(next_due_);
    }
  }
  // The attempt is tbbx work: blocking tbbx calls inside it suspend.
  ambient_scope scope(attempts_);
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
  TBBX_CHAOS_POINT();
  std::lock_guard lock(mu_);
  errors_[static_cast<std::size_t>(index)] = std::move(e);
  ++completed_;
  if (decided_) return;
  if (!start_next_locked()) settle_if_all_failed_locked();  // at once
}

void hedge_core::settle_if_all_failed_locked() noexcept {
  if (decided_ || completed_ != started_) return;
  decide_locked(-1);  // nothing running and nothing left to start
  publish_locked(outcome::failed);
}

bool hedge_core::try_win(int index) noexcept {
  TBBX_CHAOS_POINT();
  std::lock_guard lock(mu_);
  // A result reached after the parent ended does not win: the caller is
  // already on its way to report the parent's cause, and a hedge under a
  // deadline must not return a value computed past it.
  if (decided_ || parent_.done()) return false;
  decide_locked(index);
  return true;
}

void hedge_core::publish_win() noexcept {
  cancel_attempts_(another_attempt_won());  // the losers stop now
  std::lock_guard lock(mu_);
  publish_locked(outcome::won);
}

void hedge_core::publish_locked(outcome o) noexcept {
  outcome_ = o;
  caller_.notify();  // never blocks, takes no lock
}

void hedge_core::decide_locked(int winner) noexcept {
  decided_ = true;
  if (hooks_ != nullptr) {
    const int still_running = started_ - completed_ - (winner >= 0 ? 1 : 0);
    hooks_->on_decided(winner, still_running, clock::now() - start_);
  }
}

void hedge_core::await() {
  std::unique_lock lock(mu_);
  auto published = [&] { return outcome_ != outcome::pending; };
  if (detail::await(lock, parent_, caller_, published) == await_status::done) {
    // The parent ended. Unless an attempt decided first (then it is about
    // to publish), the request is abandoned.
    if (!decided_) {
      decide_locked(-1);
      lock.unlock();
      finish_caller();
      std::rethrow_exception(parent_.cause());
    }
    detail::await(lock, background(), caller_, published);
  }
  const outcome o = outcome_;
  std::vector<std::exception_ptr> errors;
  std::exception_ptr start_failure = start_failure_;
  if (o == outcome::failed) errors = errors_;
  lock.unlock();
  finish_caller();
  if (o == outcome::won) return;
  // Attempts that failed because the parent ended report the parent's
  // cause, as if it had ended first (it did).
  if (parent_.done()) std::rethrow_exception(parent_.cause());
  // No attempt ran to fail: say why (out of memory, a full arena).
  bool any = false;
  for (const auto& e : errors) any = any || e != nullptr;
  if (!any && start_failure != nullptr) std::rethrow_exception(start_failure);
  throw multi_error(std::move(errors));
}

void hedge_core::finish_caller() noexcept {
  cancel_attempts_(another_attempt_won());  // the losers, if any
  std::lock_guard lock(mu_);
  if (timer_armed_ && timer_service::instance().cancel(timer_)) {
    timer_armed_ = false;
    unref();  // the timer's; the caller still holds one
  }
}

}  // namespace tbbx::detail
