// The state one hedged request shares between its caller, its attempts and
// its timer. Internal: use <tbbx/patterns/hedge.h>.
//
// Attempts run as tasks on tbbx's patterns arena, which replaces the
// blocked caller (see scheduler/detail/default_arena.h), so they run side
// by side even on 2 cores. The next attempt is started by the timer
// service when `delay` has passed since the latest attempt began to run
// (the timer thread enqueues it; nobody polls), or at once by a failing
// attempt. Counting from the start of execution, not from queuing, keeps an
// attempt that waits for a thread from looking slow.
//
// Decisions happen under `mu_`: the first success wins; once every attempt
// that may run has failed the request fails; a parent that ends first
// abandons it. After the decision no attempt starts, no hook is called, and
// the losers' shared context is canceled; they finish on their own time
// while the state lives on by reference count.
#ifndef TBBX_PATTERNS_DETAIL_HEDGE_CORE_H_
#define TBBX_PATTERNS_DETAIL_HEDGE_CORE_H_

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
#include "tbbx/context/detail/node.h"
#include "tbbx/scheduler/arena.h"
#include "tbbx/scheduler/detail/timer_service.h"

namespace tbbx {

// hedge_policy: start attempt 1 at once and one more each `delay` without a
// success (or at once after a failure), up to max_attempts in all, as tasks
// of `arena` (tbbx's default arena if null).
struct hedge_policy {
  std::chrono::steady_clock::duration delay{};
  int max_attempts = 2;
  tbbx::arena* arena = nullptr;
};

namespace detail {

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

void check_hedge_policy(const hedge_policy& policy, const char* caller);

class hedge_core {
 public:
  // start_all: start every attempt at once (first_of) instead of one per
  // delay.
  hedge_core(const context& parent, hedge_policy policy, hedge_hooks* hooks,
             bool start_all = false);
  virtual ~hedge_core();
  hedge_core(const hedge_core&) = delete;
  hedge_core& operator=(const hedge_core&) = delete;

  void ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void unref() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  // start launches attempt 1 (and the timer for attempt 2). Caller only.
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
  enum : std::uint32_t { running = 0, won = 1, failed = 2, parent_done = 3 };

  struct delay_timer : timer_entry {
    explicit delay_timer(hedge_core* owner) noexcept;
    hedge_core* core;
  };

  void run_attempt(int index) noexcept;
  void record_failure(int index, std::exception_ptr e) noexcept;
  // Each returns with mu_ held by the caller.
  bool start_next_locked();
  void arm_timer_locked(std::chrono::steady_clock::time_point when);
  void decide_locked(int winner) noexcept;
  // settle_if_all_failed_locked decides the request failed when no attempt
  // runs and none was just started; the caller then calls publish_failed
  // without the lock.
  bool settle_if_all_failed_locked() noexcept;
  void publish_failed() noexcept;
  void fire() noexcept;
  void finish_caller() noexcept;

  std::atomic<int> refs_{1};
  const hedge_policy policy_;
  const bool start_all_;
  hedge_hooks* const hooks_;
  const std::chrono::steady_clock::time_point start_;
  context parent_;
  context attempts_;             // child of parent_, shared by all attempts
  cancel_func cancel_attempts_;  // cancels the losers once decided

  // The caller sleeps on this; attempts, the timer and the parent wake it.
  std::atomic<std::uint32_t> phase_{running};

  std::mutex mu_;
  int started_ = 0;               // guarded by mu_
  int completed_ = 0;             // attempts that returned; guarded by mu_
  int winner_ = -1;               // guarded by mu_
  bool decided_ = false;          // guarded by mu_
  bool hedging_stopped_ = false;  // budget refused; guarded by mu_
  std::vector<std::exception_ptr> errors_;  // by attempt; guarded by mu_
  std::chrono::steady_clock::time_point next_due_;  // guarded by mu_
  bool timer_armed_ = false;                        // guarded by mu_
  delay_timer timer_{this};  // holds a reference while armed

  struct parent_watch : callback_node {
    explicit parent_watch(hedge_core* owner) noexcept;
    hedge_core* core;
  } parent_watch_{this};
  bool parent_watched_ = false;  // caller only
};

// hedge_state stores the function and the winner's result.
template <class F, class R>
class hedge_state final : public hedge_core {
 public:
  template <class G>
  hedge_state(const context& parent, hedge_policy policy, hedge_hooks* hooks,
              G&& f, bool start_all = false)
      : hedge_core(parent, policy, hooks, start_all), f_(std::forward<G>(f)) {}

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
R run_hedged(const context& ctx, hedge_policy policy, F&& f, hedge_hooks* hooks,
             bool start_all = false) {
  ctx.throw_if_done();
  auto* state = new hedge_state<std::decay_t<F>, R>(
      ctx, policy, hooks, std::forward<F>(f), start_all);
  struct releaser {
    hedge_core* s;
    ~releaser() { s->unref(); }
  } release{state};
  state->start();
  state->await();
  return state->take_result();
}

}  // namespace detail
}  // namespace tbbx

#endif  // TBBX_PATTERNS_DETAIL_HEDGE_CORE_H_
