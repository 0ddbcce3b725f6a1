// SPDX-License-Identifier: Apache-2.0
// Callbacks on a context's end: on_done (like std::stop_callback) and
// after_func (Go's context.AfterFunc).
//
// clang-format off
//   auto reg = tbbx::on_done(ctx, [&] { socket.shutdown(); });
//   // ... reg's destructor deregisters
//   auto h = tbbx::after_func(ctx, [] { flush_logs(); });  // runs as a task
//   if (h.stop()) { /* flush_logs will not run */ }
// clang-format on
//
// on_done's callback runs once, synchronously, on the thread that makes the
// context done (the canceling thread), before that thread's cancel returns.
// For a context ended by its deadline it runs on tbbx's deferred runner, a
// normal-priority thread, right after the timer marks the context done: the
// real-time timer thread never runs user code (see <tbbx/context/timer.h>).
// If the context is done already it runs at once on the registering thread.
// Keep such callbacks short and non-blocking, and do not let them throw (an
// exception calls std::terminate, as with std::stop_callback). A callback may
// cancel other contexts (its parent, children, unrelated ones) and register
// new callbacks without deadlock: no tbbx lock is held while it runs.
//
// after_func's function runs as its own oneTBB task on tbbx's default arena
// after the context is done, so it may block or take long. It must not throw
// (std::terminate, like a bare task_arena::enqueue functor). The task is
// made when after_func is called, so launching it allocates nothing; if
// oneTBB cannot take it, the function runs on the thread that ended the
// context instead: it is never lost.
//
// Lifetime. A callback_registration keeps the context's node alive and
// deregisters in its destructor; if the callback is running on another
// thread right then, the destructor waits for it to return, so state the
// callback uses may be destroyed right after the registration. (Destroying
// the registration from inside its own callback does not wait.) A pending
// after_func keeps its context alive until it runs or is stopped, as in Go.
#ifndef TBBX_CONTEXT_CALLBACKS_H_
#define TBBX_CONTEXT_CALLBACKS_H_

#include "tbbx/context/detail/config.h"
#if TBBX_CPLUSPLUS >= 202002L  // otherwise config.h's #error is all

#include <atomic>
#include <concepts>
#include <memory>
#include <type_traits>
#include <utility>

#include "tbbx/context/context.h"
#include "tbbx/context/detail/tbb_adapter.h"

namespace tbbx {

// callback_registration owns one on_done callback. Move-only. A
// default-constructed or moved-from registration owns nothing.
class TBBX_API callback_registration {
 public:
  callback_registration() noexcept = default;
  callback_registration(callback_registration&& other) noexcept
      : node_(std::exchange(other.node_, nullptr)),
        callback_(std::exchange(other.callback_, nullptr)),
        destroy_(other.destroy_) {}
  callback_registration& operator=(callback_registration&& other) noexcept {
    if (this != &other) {
      reset();
      node_ = std::exchange(other.node_, nullptr);
      callback_ = std::exchange(other.callback_, nullptr);
      destroy_ = other.destroy_;
    }
    return *this;
  }
  // The destructor deregisters, waiting if the callback is running on
  // another thread.
  ~callback_registration() { reset(); }

  // reset deregisters now; the registration then owns nothing.
  void reset() noexcept;

 private:
  template <class F>
  friend callback_registration on_done(const context& ctx, F&& f);

  using destroy_fn = void (*)(detail::callback_node*) noexcept;
  callback_registration(detail::node* n, detail::callback_node* cb,
                        destroy_fn destroy) noexcept
      : node_(n), callback_(cb), destroy_(destroy) {}

  detail::node* node_ = nullptr;               // holds a reference
  detail::callback_node* callback_ = nullptr;  // owned
  destroy_fn destroy_ = nullptr;
};

namespace detail {

template <class F>
struct callback_holder final : callback_node {
  template <class G>
  explicit callback_holder(G&& g)
      : callback_node(&invoke_holder), fn(std::forward<G>(g)) {}

  static void invoke_holder(callback_node* cb) noexcept {
    static_cast<callback_holder*>(cb)->fn();
  }
  static void destroy(callback_node* cb) noexcept {
    delete static_cast<callback_holder*>(cb);
  }

  F fn;
};

// after_func_state is shared by an after_func's handles and, while pending,
// by the context's callback list and then by its task (through `self`).
struct TBBX_API after_func_state : callback_node, tbb_task {
  after_func_state() noexcept : callback_node(&launch) {}
  virtual ~after_func_state() = default;
  virtual void run() noexcept = 0;

  static void launch(callback_node* cb) noexcept;
  tbb_task* execute(task_execution&) override;
  tbb_task* cancel(task_execution&) override;

  context ctx;
  std::shared_ptr<after_func_state> self;  // set while queued or launched
  bool never_runs = false;           // ctx can never end: nothing was queued
  std::atomic<bool> stopped{false};  // for never_runs: stop() said true once
};

template <class F>
struct after_func_impl final : after_func_state {
  template <class G>
  explicit after_func_impl(G&& g) : fn(std::forward<G>(g)) {}
  void run() noexcept override { fn(); }
  F fn;
};

// start_after_func queues `state` on its context, or launches it at once if
// the context is done already.
TBBX_API void start_after_func(const std::shared_ptr<after_func_state>& state);

}  // namespace detail

// on_done registers `f` to run once when ctx is done (see the file comment
// for which thread runs it). If ctx is done already, f runs at once on this
// thread and the returned registration owns nothing. If ctx can never end
// (background(), without_cancel()), f is never run.
template <class F>
[[nodiscard]] callback_registration on_done(const context& ctx, F&& f) {
  static_assert(std::invocable<std::decay_t<F>&>,
                "tbbx::on_done: the callback must be callable with no "
                "arguments");
  if (ctx.done()) {
    std::decay_t<F> fn(std::forward<F>(f));
    [&]() noexcept { fn(); }();  // a throwing callback terminates, always
    return {};
  }
  detail::node* n = detail::context_access::get(ctx);
  if (!n->can_end()) return {};
  using holder = detail::callback_holder<std::decay_t<F>>;
  auto* cb = new holder(std::forward<F>(f));
  if (!detail::register_callback(n, cb)) {
    holder::invoke_holder(cb);
    holder::destroy(cb);
    return {};
  }
  n->ref();
  return callback_registration(n, cb, &holder::destroy);
}

// after_func_handle refers to one after_func registration; copies refer to
// the same one. Dropping every handle does not cancel the function.
class TBBX_API after_func_handle {
 public:
  after_func_handle() noexcept = default;

  // stop keeps the function from running and returns true, if it has not
  // been launched yet. It returns false if the context is done and the
  // function has been launched, or if it was stopped already. It does not
  // wait for a launched function to finish.
  bool stop();

 private:
  template <class F>
  friend after_func_handle after_func(const context& ctx, F&& f);
  explicit after_func_handle(std::shared_ptr<detail::after_func_state> s)
      : state_(std::move(s)) {}

  std::shared_ptr<detail::after_func_state> state_;
};

// after_func arranges for `f` to run as its own task after ctx is done (at
// once, as a task, if ctx is done already).
template <class F>
after_func_handle after_func(const context& ctx, F&& f) {
  static_assert(std::invocable<std::decay_t<F>&>,
                "tbbx::after_func: the function must be callable with no "
                "arguments");
  auto state = std::make_shared<detail::after_func_impl<std::decay_t<F>>>(
      std::forward<F>(f));
  state->ctx = ctx;
  detail::start_after_func(state);
  return after_func_handle(std::move(state));
}

}  // namespace tbbx

#endif  // TBBX_CPLUSPLUS >= 202002L

#endif  // TBBX_CONTEXT_CALLBACKS_H_
