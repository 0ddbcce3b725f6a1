// SPDX-License-Identifier: Apache-2.0
// The state one hedged request shares between its caller, its attempts and
// its timer. Internal: use <tbbx/patterns/hedge.h>.
//
// Attempts run as tasks on an arena (tbbx's default one unless told), which
// replaces a blocked caller (see context/detail/default_arena.h), so they
// run side by side even on 2 cores. The next attempt is started when
// `delay` has passed since the latest attempt began to run (a timer of the
// timer service, fired on the deferred runner since it starts a oneTBB
// task; nobody polls), or at once by a failing attempt. Counting from the
// start of execution, not from queuing, keeps an attempt that waits for a
// thread from looking slow.
//
// Decisions happen under `mu_`: the first success wins; once every attempt
// that may run has failed the request fails; a parent that ends first
// abandons it. After the decision no attempt starts, no hook is called, and
// the losers' shared context is canceled; they finish on their own time
// while the state lives on by reference count. The caller waits with the
// library's one blocking primitive (context/detail/await.h): inside a tbbx
// task it suspends rather than holding a worker, so hedges nested in
// attempts make progress whatever the arena's size.
#ifndef TBBX_PATTERNS_DETAIL_HEDGE_CORE_H_
#define TBBX_PATTERNS_DETAIL_HEDGE_CORE_H_

#include <oneapi/tbb/task_arena.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <type_traits>
#include <utility>
#include <vector>

#include "tbbx/context/context.h"
#include "tbbx/context/detail/await.h"
#include "tbbx/context/detail/export.h"
#include "tbbx/context/detail/timer_entry.h"

namespace tbbx::detail {

// hedge_plan is what a request runs by (hedge_policy, hedger_options and
// first_of all come down to it).
struct hedge_plan {
  std::chrono::steady_clock::duration delay{};
  int max_attempts = 2;
  tbb::task_arena* arena = nullptr;  // null: tbbx's default arena
  bool start_all = false;            // first_of: every attempt at once
};

// hedge_hooks is what an adaptive hedger adds to a request. Every call is
// made under the request's lock and before its decision, so never after the
// caller of hedge() has returned.
class hedge_hooks {
 public:
  // allow_extra_attempt is asked before each attempt after the first.
  virtual bool allow_extra_attempt() noexcept = 0;
  virtual void on_attempt_started(int index) noexcept = 0;
  // on_decided: winner is the index of the winning attempt or -1; canceled
  // counts attempts still running that are now canceled.
  virtual void on_decided(
      int winner, int canceled,
      std::chrono::steady_clock::duration latency) noexcept = 0;

 protected:
  ~hedge_hooks() = default;
};

// check_hedge_plan throws std::invalid_argument for a negative delay or
// fewer than one attempt.
TBBX_API void check_hedge_plan(std::chrono::steady_clock::duration delay,
                               int max_attempts, const char* caller);

class TBBX_API hedge_core {
 public:
  hedge_core(const context& parent, hedge_plan plan, hedge_hooks* hooks);
  virtual ~hedge_core();
  hedge_core(const hedge_core&) = delete;
  hedge_core& operator=(const hedge_core&) = delete;

  void ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void unref() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  // start launches attempt 1 (every attempt for start_all). Caller only.
  void start();
  // await blocks until the request is decided or the parent is done; it
  // returns normally only if an attempt won (its result is then stored),
  // and otherwise throws the parent's cause or a multi_error of every
  // attempt's error. Caller only, once.
  void await();

 protected:
  // invoke runs the user's function for attempt `index`: on success it
  // calls try_win(index) and, if that returns true, stores the result and
  // calls publish_win(); it throws the attempt's error.
  virtual void invoke(const context& attempt, int index) = 0;

  // try_win claims the win for attempt `index`; false if the request is
  // already decided (the result is then dropped).
  bool try_win(int index) noexcept;
  // publish_win tells the caller that the winner's result is stored.
  void publish_win() noexcept;

 private:
  enum class outcome : std::uint8_t { pending, won, failed };

  struct delay_timer : timer_entry {
    explicit delay_timer(hedge_core* owner) noexcept;
    hedge_core* core;
  };

  void run_attempt(int index) noexcept;
  void record_failure(int index, std::exception_ptr e) noexcept;
  // Each is called with mu_ held.
  bool start_next_locked() noexcept;
  void arm_timer_locked(std::chrono::steady_clock::time_point when) noexcept;
  void decide_locked(int winner) noexcept;
  // settle_if_all_failed_locked decides the request failed when no attempt
  // runs and none was just started.
  void settle_if_all_failed_locked() noexcept;
  void publish_locked(outcome o) noexcept;
  void fire() noexcept;
  void finish_caller() noexcept;

  std::atomic<int> refs_{1};
  const hedge_plan plan_;
  hedge_hooks* const hooks_;
  const std::chrono::steady_clock::time_point start_;
  context parent_;
  context attempts_;             // child of parent_, shared by all attempts
  cancel_func cancel_attempts_;  // cancels the losers once decided
  waiter caller_;                // made on the caller's thread

  std::mutex mu_;         // never taken by the timer thread
  int started_ = 0;       // guarded by mu_
  int completed_ = 0;     // attempts that returned; guarded by mu_
  bool decided_ = false;  // guarded by mu_
  outcome outcome_ = outcome::pending;      // published to the caller; mu_
  bool hedging_stopped_ = false;            // budget refused; guarded by mu_
  std::vector<std::exception_ptr> errors_;  // by attempt started; mu_
  std::exception_ptr start_failure_;        // an attempt could not start; mu_
  std::chrono::steady_clock::time_point next_due_;  // guarded by mu_
  bool timer_armed_ = false;                        // guarded by mu_
  delay_timer timer_{this};  // holds a reference while armed
};

// hedge_state stores the function and the winner's result.
template <class F, class R>
class hedge_state final : public hedge_core {
 public:
  template <class G>
  hedge_state(const context& parent, hedge_plan plan, hedge_hooks* hooks, G&& f)
      : hedge_core(parent, plan, hooks), f_(std::forward<G>(f)) {}

  R take_result() {
    if constexpr (!std::is_void_v<R>) return std::move(*result_);
  }

 private:
  // f_ takes the attempt's context, and its index if it wants it.
  decltype(auto) call(const context& attempt, int index) const {
    if constexpr (std::is_invocable_v<const F&, const context&, int>) {
      return f_(attempt, index);
    } else {
      return f_(attempt);
    }
  }

  void invoke(const context& attempt, int index) override {
    if constexpr (std::is_void_v<R>) {
      call(attempt, index);
      if (try_win(index)) publish_win();
    } else {
      // Stored before the win is claimed: a result whose move throws is
      // this attempt's failure, not a decided request with no result.
      auto staged = std::make_unique<R>(call(attempt, index));
      if (try_win(index)) {
        result_ = std::move(staged);  // noexcept
        publish_win();
      }
    }
  }

  const F f_;  // called concurrently by the attempts
  struct nothing {};
  std::unique_ptr<std::conditional_t<std::is_void_v<R>, nothing, R>> result_;
};

// run_hedged is hedge(), hedger::operator() and first_of() without the
// checks.
template <class R, class F>
R run_hedged(const context& ctx, hedge_plan plan, F&& f, hedge_hooks* hooks) {
  ctx.throw_if_done();
  auto* state =
      new hedge_state<std::decay_t<F>, R>(ctx, plan, hooks, std::forward<F>(f));
  struct releaser {
    hedge_core* s;
    ~releaser() { s->unref(); }
  } release{state};
  state->start();
  state->await();
  return state->take_result();
}

}  // namespace tbbx::detail

#endif  // TBBX_PATTERNS_DETAIL_HEDGE_CORE_H_
