// SPDX-License-Identifier: Apache-2.0
// await: the one way tbbx blocks until "X, or the context ends". Internal.
//
// Every blocking wait of the library goes through it: semaphore::acquire,
// single_flight waiters, hedge() and first_of() callers, retry's backoff
// sleep. It has the shape of C++20's
// condition_variable_any::wait(lock, stop_token, pred):
//
//   std::unique_lock lock(mu_);
//   waiter w;                                  // on the waiting thread
//   ... publish &w where the notifier finds it ...
//   switch (await(lock, ctx, w, [&] { return granted; })) { ... }
//
//   // the notifier, after making the predicate true (under mu_ or not):
//   w.notify();
//
// The rule it encodes: no callback registration is destroyed under a lock
// its callback takes. The context's callback only calls w.notify(), which
// takes no lock at all (an atomic exchange and a futex wake, or a oneTBB
// resume), so the registration may come and go with `lock` held, and the
// timer thread that ends a context at its deadline never waits on the
// caller's lock.
//
// Progress inside tasks. A waiter made on a thread that runs a tbbx task
// or body (a worker of an arena) does not block its thread: it suspends the
// task (oneTBB's resumable tasks), the thread goes on running other tasks
// of the arena, and notify() resumes the task. So a blocking tbbx call
// inside a tbbx task never takes a worker away from the work it waits for:
// nested hedges, semaphores whose releasers are queued tasks, and the like
// make progress even when every worker is such a caller. Elsewhere the
// thread sleeps on a futex. Timed waits (a finite `until`) always sleep.
#ifndef TBBX_CONTEXT_DETAIL_AWAIT_H_
#define TBBX_CONTEXT_DETAIL_AWAIT_H_

#include <atomic>
#include <chrono>
#include <cstdint>

#include "tbbx/context/context.h"
#include "tbbx/context/detail/export.h"
#include "tbbx/context/detail/node.h"

namespace tbbx::detail {

// waiter is one waiting thread's wake-up: notify() from any thread, any
// number of times; each block() consumes the notifications made since the
// last one. It lives on the waiting thread's stack.
class TBBX_API waiter {
 public:
  // timed: the wait has a time limit (it then never suspends).
  explicit waiter(bool timed = false) noexcept;
  waiter(const waiter&) = delete;
  waiter& operator=(const waiter&) = delete;

  // notify wakes the waiting thread (or makes its next block() return at
  // once). Never blocks, takes no lock. In suspend mode it calls into
  // oneTBB, so it is not timer-safe: see timer_safe().
  void notify() noexcept;
  // timer_safe: notify() may run on the timer thread.
  bool timer_safe() const noexcept { return !suspends_; }

  // block returns once notified (at once if notified meanwhile), or when
  // `until` passes; spurious returns are possible.
  void block(time_point until) noexcept;

 private:
  enum : std::uint32_t { idle = 0, notified = 1, sleeping = 2, suspended = 3 };
  std::atomic<std::uint32_t> state_{idle};
  const bool suspends_;
  void* suspend_point_ = nullptr;  // written before state_ becomes suspended
};

// context_watch keeps `w` notified of `ctx`'s end while it lives (a
// callback on ctx's node). Nothing is registered for a context that can
// never end; for one that has ended, w is notified at once.
class TBBX_API context_watch {
 public:
  context_watch(const context& ctx, waiter& w);
  ~context_watch();
  context_watch(const context_watch&) = delete;
  context_watch& operator=(const context_watch&) = delete;

 private:
  struct wake : callback_node {
    explicit wake(waiter& w) noexcept;
    waiter* target;
  };
  wake callback_;
  node* node_ = nullptr;  // registered on it; holds a reference
};

enum class await_status { ready, done, timed_out };

// await waits until ready() (checked with `lock` held), ctx is done, or
// `until` passes, whichever it sees first, in that order of precedence.
// `lock` is held on entry and on return and released while blocked. The
// notifier of ready() calls w.notify() after making it true. May throw
// std::bad_alloc before blocking (watching an error_group's context
// creates its node).
template <class Lock, class Ready>
await_status await(Lock& lock, const context& ctx, waiter& w, Ready&& ready,
                   time_point until = no_deadline) {
  if (ready()) return await_status::ready;
  if (ctx.done()) return await_status::done;
  context_watch watch(ctx, w);
  for (;;) {
    if (ready()) return await_status::ready;
    if (ctx.done()) return await_status::done;
    if (until != no_deadline && std::chrono::steady_clock::now() >= until) {
      return await_status::timed_out;
    }
    lock.unlock();
    w.block(until);
    lock.lock();
  }
}

// no_lock is a Lock for waits whose predicate needs none.
struct no_lock {
  void lock() noexcept {}
  void unlock() noexcept {}
};

// sleep_until waits until `until` or until ctx is done; returns ctx.done().
inline bool sleep_until(const context& ctx, time_point until) {
  waiter w(/*timed=*/true);
  no_lock lock;
  return await(
             lock, ctx, w, [] { return false; }, until) == await_status::done;
}

}  // namespace tbbx::detail

#endif  // TBBX_CONTEXT_DETAIL_AWAIT_H_
