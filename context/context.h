// tbbx::context: Go's context.Context for C++ and oneTBB.
//
// A context carries a cancellation signal, an optional deadline and
// request-scoped values across API boundaries and tasks. Contexts form a
// tree: a child ends when its parent ends, when its own cancel_func is called,
// or at its deadline, whichever comes first. Canceling a child never touches
// its parent or siblings.
//
//   auto [ctx, cancel] = tbbx::with_timeout(tbbx::background(), 50ms);
//   tbbx::parallel_for(ctx, tbb::blocked_range<int>(0, n), [&](auto& r) {
//     for (int i = r.begin(); i != r.end() && !ctx.done(); ++i) work(i);
//   });                       // throws ctx.cause() if cut short
//   cancel();                 // releases the timer at once
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
// context is in use: `auto [ctx, cancel] = with_cancel(parent);`. Trees of
// any depth are created, canceled and destroyed with bounded stack.
//
// Deadlines fire from the process-wide timer thread (see
// <tbbx/scheduler/detail/timer_service.h>): nobody polls the clock.
#ifndef TBBX_CONTEXT_CONTEXT_H_
#define TBBX_CONTEXT_CONTEXT_H_

#include <chrono>
#include <exception>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

#include "tbbx/context/detail/node.h"
#include "tbbx/context/errors.h"

namespace tbbx {

class context;
class cancel_func;

namespace detail {
struct context_access;
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
class context {
 public:
  context() noexcept : node_(detail::background_node()) {}
  context(const context& other) noexcept : node_(other.node_) { node_->ref(); }
  context(context&& other) noexcept
      : node_(std::exchange(other.node_, detail::background_node())) {}
  context& operator=(const context& other) noexcept {
    other.node_->ref();
    node_->unref();
    node_ = other.node_;
    return *this;
  }
  context& operator=(context&& other) noexcept {
    if (this != &other) {
      node_->unref();
      node_ = std::exchange(other.node_, detail::background_node());
    }
    return *this;
  }
  ~context() { node_->unref(); }

  // done reports whether the context has ended. One acquire load.
  bool done() const noexcept { return node_->done(); }

  // err is {} until done, then errc::canceled or errc::deadline_exceeded,
  // fixed forever.
  std::error_code err() const noexcept {
    return done() ? make_error_code(node_->err()) : std::error_code();
  }

  // cause is null until done; then the exception given to cancel, or else a
  // canceled_error / deadline_exceeded_error (or the cause given to
  // with_deadline) matching err().
  std::exception_ptr cause() const noexcept {
    return done() ? node_->cause() : nullptr;
  }

  // throw_if_done rethrows cause() when done; otherwise does nothing.
  void throw_if_done() const {
    if (done()) std::rethrow_exception(node_->cause());
  }

  // deadline is the earliest deadline in the chain, if any.
  std::optional<std::chrono::steady_clock::time_point> deadline()
      const noexcept {
    if (node_->deadline() == detail::no_deadline) return std::nullopt;
    return node_->deadline();
  }

  // value returns the value stored under `key` by the nearest with_value in
  // the chain, or nullptr. The pointer lives as long as this context.
  template <class T>
  const T* value(const context_key<T>& key) const noexcept {
    for (const detail::node* n = node_; n != nullptr; n = n->parent()) {
      if (n->key() == &key) return static_cast<const T*>(n->value());
    }
    return nullptr;
  }

  // wait blocks until done() without polling. On a context that can never
  // end (background(), without_cancel()) it blocks forever.
  void wait() const { node_->wait(); }

  // wait_for and wait_until block until done() or the time passes, and
  // return done().
  bool wait_for(std::chrono::steady_clock::duration d) const {
    return wait_until(std::chrono::steady_clock::now() + d);
  }
  bool wait_until(std::chrono::steady_clock::time_point t) const;

  // Two contexts are equal when they are handles on the same node.
  friend bool operator==(const context& a, const context& b) noexcept {
    return a.node_ == b.node_;
  }

 private:
  friend struct detail::context_access;
  explicit context(detail::node* adopted) noexcept : node_(adopted) {}

  detail::node* node_;  // never null; holds one reference
};

// background returns the root context: never done, no deadline, no values.
context background() noexcept;

// cancel_func ends its context with errc::canceled. Calling it does not wait
// for the work under the context to stop. After the first call, later calls
// (and a deadline) change nothing. It is move-only; a moved-from or
// default-constructed cancel_func does nothing.
class cancel_func {
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
    if (node_ != nullptr && !node_->done()) {
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
// return; it decomposes as `auto [ctx, cancel] = with_cancel(parent);`.
struct cancelable_context {
  context ctx;
  cancel_func cancel;
};

// with_cancel returns a child of `parent` that also ends when `cancel` is
// called. If parent is done already, the child is done at once with the
// parent's err() and cause().
[[nodiscard]] cancelable_context with_cancel(const context& parent);

// with_deadline returns a child that also ends at `d` with
// errc::deadline_exceeded and cause `cause` (deadline_exceeded_error if
// null). A deadline in the past gives a context that is done at once. If the
// parent's deadline is earlier, the child keeps the parent's (and its cause).
[[nodiscard]] cancelable_context with_deadline(
    const context& parent, std::chrono::steady_clock::time_point d,
    std::exception_ptr cause = nullptr);

// with_timeout is with_deadline(parent, steady_clock::now() + t, cause).
[[nodiscard]] cancelable_context with_timeout(
    const context& parent, std::chrono::steady_clock::duration t,
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
[[nodiscard]] context without_cancel(const context& parent);

namespace detail {

// context_access lets tbbx internals reach the node behind a handle.
struct context_access {
  static node* get(const context& ctx) noexcept { return ctx.node_; }
  static context adopt(node* n) noexcept { return context(n); }
  static cancel_func adopt_cancel(node* n) noexcept { return cancel_func(n); }
};

}  // namespace detail

template <class T>
context with_value(const context& parent, const context_key<T>& key,
                   std::type_identity_t<T> value) {
  return detail::context_access::adopt(detail::make_value_node<T>(
      detail::context_access::get(parent), &key, std::move(value)));
}

}  // namespace tbbx

#endif  // TBBX_CONTEXT_CONTEXT_H_
