// SPDX-License-Identifier: Apache-2.0
// tbbx::context: Go's context.Context for C++ and oneTBB.
//
// A context carries a cancellation signal, an optional deadline and
// request-scoped values across API boundaries and tasks. Contexts form a
// tree: a child ends when its parent ends, when its own cancel_func is called,
// or at its deadline, whichever comes first. Canceling a child never touches
// its parent or siblings.
//
// clang-format off
//   tbbx::cancelable_context c = tbbx::with_timeout(tbbx::background(), 50ms);
//   tbbx::parallel_for(c.ctx, tbb::blocked_range<int>(0, n), [&](auto& r) {
//     for (int i = r.begin(); i != r.end() && !c.ctx.done(); ++i) work(i);
//   });                       // throws c.ctx.cause() if cut short
//   c.cancel();               // releases the timer at once
// clang-format on
//
// The examples keep the returned cancelable_context whole and use its
// members `ctx` and `cancel`. `auto [ctx, cancel] = with_cancel(parent);`
// works too, but a lambda cannot capture a structured binding before
// clang 16 (write `[&ctx = ctx]` there); naming the struct compiles
// everywhere.
//
// A `context` is one pointer to an immutable, reference-counted node: copy
// it freely, pass it as `const context&` (first parameter, named `ctx`).
// Every member is thread-safe. `done()` is one acquire load of one atomic:
// no lock, no clock read, no call into a .cc file, so it belongs in inner
// loops. Everything the canceling thread did before the cancel happens-before
// whatever a thread does after it sees `done()` return true.
//
// Lifetimes. A context's resources (its node, timer and callbacks) are
// released when it is canceled or when its last handle (context or
// cancel_func) goes away; a long-lived parent never accumulates dead
// children. A cancel_func cancels when destroyed, so keep it as long as the
// context is in use: `cancelable_context c = with_cancel(parent);`. Trees of
// any depth are created, canceled and destroyed with bounded stack.
//
// Deadlines fire from the process-wide timer thread (see
// <tbbx/context/timer.h>): nobody polls the clock. A timeout or wait so long
// that now() + d would overflow means "never", as in Go.
//
// Which concurrency primitive is used where, and why (the rules the whole
// context core keeps):
//  - pi_lock (a 4-byte futex lock with priority inheritance) guards every
//    structure the real-time timer thread touches: each node's child and
//    callback lists, and the timer wheel. Critical sections are a few
//    pointer writes; a preempted holder is boosted, never spun on.
//  - One atomic word per node says done; done() is one acquire load.
//    Waiting on a context is a futex wait on that word (no callback, no
//    allocation); waiters are woken once the subtree below is done.
//  - Callbacks (on_done, after_func, the watches of blocking waits) run
//    with no lock held. Those of tbbx's own blocking waits only notify a
//    waiter (an atomic exchange and a wake), so they may run on the timer
//    thread; user callbacks of a context ended by its deadline run on the
//    deferred runner, a normal-priority thread.
//  - Blocking waits (detail/await.h) sleep on a futex, or suspend the task
//    (oneTBB's resumable tasks) when called from a tbbx task, so that a
//    worker is never lost to a wait; waits for other tasks of a group or
//    graph use oneTBB's wait_context and help run tasks meanwhile.
//  - std::mutex only where no tbbx-internal thread ever waits on it (a
//    semaphore's or single_flight's own state).
#ifndef TBBX_CONTEXT_CONTEXT_H_
#define TBBX_CONTEXT_CONTEXT_H_

#include "tbbx/context/detail/config.h"
#if TBBX_CPLUSPLUS >= 202002L  // otherwise config.h's #error is all

#include <chrono>
#include <cstdint>
#include <exception>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

#include "tbbx/context/detail/config.h"
#include "tbbx/context/detail/node.h"
#include "tbbx/context/errors.h"

namespace tbbx {

class context;
class cancel_func;

namespace detail {
struct context_access;

// deadline_after is now + d, saturated: a duration so large that the sum
// would overflow means "never" (time_point::max()). `now` is a reading of
// steady_clock, which counts from boot, so now >= 0 and only a positive d
// can overflow.
inline time_point deadline_after(
    time_point now, std::chrono::steady_clock::duration d) noexcept {
  if (d > time_point::max() - now) return time_point::max();
  return now + d;
}
inline time_point deadline_after(
    std::chrono::steady_clock::duration d) noexcept {
  return deadline_after(std::chrono::steady_clock::now(), d);
}
}  // namespace detail

// context_key names one value slot. Its identity is its address, so two keys
// never collide even with equal names. It is not copyable; give it static
// storage: it must outlive every context that uses it.
//
//   inline const tbbx::context_key<std::string> kRequestId("request_id");
template <class T>
class context_key {
 public:
  explicit constexpr context_key(const char* name) noexcept : name_(name) {}
  context_key(const context_key&) = delete;
  context_key& operator=(const context_key&) = delete;

  const char* name() const noexcept { return name_; }

 private:
  const char* name_;
};

// context is a cheap, copyable, thread-safe handle on a node of the context
// tree. A default-constructed context is background(). A moved-from context
// is background().
class TBBX_API context {
 public:
  context() noexcept : bits_(to_bits(detail::background_node())) {}
  // Copying an error_group's context creates the group's node on first use;
  // if that allocation fails, std::terminate is called (handles are
  // noexcept).
  context(const context& other) noexcept : bits_(other.shared_bits()) {}
  context(context&& other) noexcept
      : bits_(other.is_lazy()
                  ? other.shared_bits()
                  : std::exchange(other.bits_,
                                  to_bits(detail::background_node()))) {}
  context& operator=(const context& other) noexcept {
    const std::uintptr_t bits = other.shared_bits();
    release();
    bits_ = bits;
    return *this;
  }
  context& operator=(context&& other) noexcept {
    if (this != &other) {
      if (other.is_lazy()) return *this = other;
      release();
      bits_ = std::exchange(other.bits_, to_bits(detail::background_node()));
    }
    return *this;
  }
  ~context() { release(); }

  // done reports whether the context has ended. One acquire load.
  bool done() const noexcept { return tree()->done(); }

  // err is {} until done, then errc::canceled or errc::deadline_exceeded,
  // fixed forever.
  std::error_code err() const noexcept {
    if (!done()) return {};
    return make_error_code(tree()->err());
  }

  // cause is null until done; then the exception given to cancel, or else a
  // canceled_error / deadline_exceeded_error (or the cause given to
  // with_deadline) matching err(). Fixed forever, and the same through
  // every handle on this context.
  std::exception_ptr cause() const noexcept {
    if (!done()) return nullptr;
    return tree()->cause();
  }

  // throw_if_done rethrows cause() when done; otherwise does nothing.
  void throw_if_done() const {
    if (done()) std::rethrow_exception(cause());
  }

  // deadline is the earliest deadline in the chain, if any.
  std::optional<std::chrono::steady_clock::time_point> deadline()
      const noexcept {
    const detail::time_point d = tree()->values_node()->deadline();
    if (d == detail::no_deadline) return std::nullopt;
    return d;
  }

  // value returns the value stored under `key` by the nearest with_value in
  // the chain, or nullptr. The pointer lives as long as this context.
  template <class T>
  const T* value(const context_key<T>& key) const noexcept {
    return static_cast<const T*>(
        detail::find_value(tree()->values_node(), &key));
  }

  // wait blocks until done() without polling and without registering
  // anything on the context. On a context that can never end
  // (background(), without_cancel()) it blocks forever.
  void wait() const noexcept { tree()->wait(); }

  // wait_for and wait_until block until done() or the time passes, and
  // return done(): false only once the time has passed. A duration too
  // large to add to now() waits forever.
  bool wait_for(std::chrono::steady_clock::duration d) const noexcept {
    return wait_until(detail::deadline_after(d));
  }
  bool wait_until(std::chrono::steady_clock::time_point t) const noexcept {
    return tree()->wait_until(t);
  }

  // Two contexts are equal when they are handles on the same context.
  friend bool operator==(const context& a, const context& b) noexcept {
    return a.identity() == b.identity();
  }

 private:
  friend struct detail::context_access;

  // The word is a detail::node* holding one reference, or, with the low bit
  // set, a lazy tree node (an error_group) holding none: it outlives the
  // handles it gives out, and copies are made on its node.
  static constexpr std::uintptr_t lazy_bit = 1;

  explicit context(std::uintptr_t bits) noexcept : bits_(bits) {}
  static std::uintptr_t to_bits(const void* p) noexcept {
    return reinterpret_cast<std::uintptr_t>(p);
  }
  bool is_lazy() const noexcept { return (bits_ & lazy_bit) != 0; }
  // tree is the tree node behind the handle, lazy or not; no branch.
  detail::tree_node* tree() const noexcept {
    return reinterpret_cast<detail::tree_node*>(bits_ & ~lazy_bit);
  }
  detail::node* as_node() const noexcept {
    return reinterpret_cast<detail::node*>(bits_);
  }
  // shared_bits is the word for a new handle on this context.
  std::uintptr_t shared_bits() const noexcept {
    detail::node* n = tree()->materialize();
    n->ref();
    return to_bits(n);
  }
  std::uintptr_t identity() const noexcept {
    if (!is_lazy()) return bits_;
    const detail::node* n = tree()->existing_node();
    return n != nullptr ? to_bits(n) : bits_;
  }
  void release() noexcept {
    if (!is_lazy()) as_node()->unref();
  }

  std::uintptr_t bits_;
};

// background returns the root context: never done, no deadline, no values.
TBBX_API context background() noexcept;

// cancel_func ends its context with errc::canceled. Calling it does not wait
// for the work under the context to stop, but when it returns the context
// and every context derived from it are done. After the first call, later
// calls (and a deadline) change nothing. It is move-only; a moved-from or
// default-constructed cancel_func does nothing.
class TBBX_API cancel_func {
 public:
  cancel_func() noexcept = default;
  cancel_func(cancel_func&& other) noexcept
      : node_(std::exchange(other.node_, nullptr)) {}
  cancel_func& operator=(cancel_func&& other) noexcept {
    if (this != &other) {
      reset();
      node_ = std::exchange(other.node_, nullptr);
    }
    return *this;
  }
  // The destructor cancels: a forgotten cancel cannot leak the context.
  ~cancel_func() { reset(); }

  // operator() cancels with a canceled_error cause.
  void operator()() const noexcept { (*this)(nullptr); }

  // operator()(cause) cancels; cause() then returns this very exception_ptr
  // (a null cause is the same as operator()()).
  void operator()(std::exception_ptr cause) const noexcept {
    if (node_ != nullptr) {
      detail::cancel_node(node_, errc::canceled, std::move(cause));
    }
  }

  // release gives up the right to cancel without canceling: the context
  // then ends only through its parent or its deadline.
  void release() noexcept {
    if (node_ != nullptr) std::exchange(node_, nullptr)->unref();
  }

 private:
  friend struct detail::context_access;
  explicit cancel_func(detail::node* adopted) noexcept : node_(adopted) {}

  void reset() noexcept {
    if (node_ != nullptr) {
      (*this)();
      std::exchange(node_, nullptr)->unref();
    }
  }

  detail::node* node_ = nullptr;  // holds one reference, or null
};

// cancelable_context is what with_cancel, with_deadline and with_timeout
// return: keep it whole (`c.ctx`, `c.cancel()`), or decompose it as
// `auto [ctx, cancel] = with_cancel(parent);` where no lambda captures the
// bindings (clang before 16 rejects that).
struct cancelable_context {
  context ctx;
  cancel_func cancel;
};

// with_cancel returns a child of `parent` that also ends when `cancel` is
// called. If parent is done already, the child is done at once with the
// parent's err() and cause().
[[nodiscard]] TBBX_API cancelable_context with_cancel(const context& parent);

// with_deadline returns a child that also ends at `d` with
// errc::deadline_exceeded and cause `cause` (deadline_exceeded_error if
// null). A deadline in the past gives a context that is done at once;
// time_point::max() is no deadline. If the parent's deadline is earlier,
// the child keeps the parent's (and its cause).
[[nodiscard]] TBBX_API cancelable_context
with_deadline(const context& parent, std::chrono::steady_clock::time_point d,
              std::exception_ptr cause = nullptr);

// with_timeout is with_deadline(parent, steady_clock::now() + t, cause),
// saturated: a timeout too large to add to now() is no deadline.
[[nodiscard]] TBBX_API cancelable_context
with_timeout(const context& parent, std::chrono::steady_clock::duration t,
             std::exception_ptr cause = nullptr);

// with_value returns a child that carries `value` under `key` and otherwise
// behaves as `parent` (it ends with it). Use values for request-scoped data
// that crosses API boundaries, not for optional parameters.
template <class T>
[[nodiscard]] context with_value(const context& parent,
                                 const context_key<T>& key,
                                 std::type_identity_t<T> value);

// without_cancel returns a context that keeps parent's values but is never
// done and has no deadline, for work that must outlive the request.
[[nodiscard]] TBBX_API context without_cancel(const context& parent);

namespace detail {

// context_access lets tbbx internals reach the node behind a handle.
struct context_access {
  // get returns the node behind `ctx` (creating a group's node; may throw
  // std::bad_alloc); no reference is taken.
  static node* get(const context& ctx) { return ctx.tree()->materialize(); }
  // tree returns the tree node behind `ctx` (a node or a group).
  static tree_node* tree(const context& ctx) noexcept { return ctx.tree(); }
  static context adopt(node* n) noexcept {
    return context(context::to_bits(n));
  }
  // lazy returns a handle on `t` that holds no reference.
  static context lazy(const tree_node* t) noexcept {
    return context(context::to_bits(t) | context::lazy_bit);
  }
  static bool is_lazy(const context& ctx) noexcept { return ctx.is_lazy(); }
  static cancel_func adopt_cancel(node* n) noexcept { return cancel_func(n); }
};

}  // namespace detail

template <class T>
context with_value(const context& parent, const context_key<T>& key,
                   std::type_identity_t<T> value) {
  return detail::context_access::adopt(detail::value_node<T>::make(
      detail::context_access::get(parent), &key, std::move(value)));
}

}  // namespace tbbx

#endif  // TBBX_CPLUSPLUS >= 202002L

#endif  // TBBX_CONTEXT_CONTEXT_H_
