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

#include "tbbx/context/detail/lazy_source.h"
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
  context() noexcept : bits_(to_bits(detail::background_node())) {}
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
  bool done() const noexcept {
    return is_lazy() ? as_lazy()->done() : as_node()->done();
  }

  // err is {} until done, then errc::canceled or errc::deadline_exceeded,
  // fixed forever.
  std::error_code err() const noexcept {
    if (!done()) return {};
    return make_error_code(is_lazy() ? as_lazy()->err() : as_node()->err());
  }

  // cause is null until done; then the exception given to cancel, or else a
  // canceled_error / deadline_exceeded_error (or the cause given to
  // with_deadline) matching err().
  std::exception_ptr cause() const noexcept {
    if (!done()) return nullptr;
    return is_lazy() ? as_lazy()->cause() : as_node()->cause();
  }

  // throw_if_done rethrows cause() when done; otherwise does nothing.
  void throw_if_done() const {
    if (done()) std::rethrow_exception(cause());
  }

  // deadline is the earliest deadline in the chain, if any.
  std::optional<std::chrono::steady_clock::time_point> deadline()
      const noexcept {
    const detail::time_point d = values_start()->deadline();
    if (d == detail::no_deadline) return std::nullopt;
    return d;
  }

  // value returns the value stored under `key` by the nearest with_value in
  // the chain, or nullptr. The pointer lives as long as this context.
  template <class T>
  const T* value(const context_key<T>& key) const noexcept {
    for (const detail::node* n = values_start(); n != nullptr;
         n = n->parent()) {
      if (n->key() == &key) return static_cast<const T*>(n->value());
    }
    return nullptr;
  }

  // wait blocks until done() without polling. On a context that can never
  // end (background(), without_cancel()) it blocks forever.
  void wait() const { is_lazy() ? as_lazy()->wait() : as_node()->wait(); }

  // wait_for and wait_until block until done() or the time passes, and
  // return done().
  bool wait_for(std::chrono::steady_clock::duration d) const {
    return wait_until(std::chrono::steady_clock::now() + d);
  }
  bool wait_until(std::chrono::steady_clock::time_point t) const;

  // Two contexts are equal when they are handles on the same context.
  friend bool operator==(const context& a, const context& b) noexcept {
    return a.identity() == b.identity();
  }

 private:
  friend struct detail::context_access;

  // The word is a detail::node* holding one reference, or, with the low bit
  // set, a detail::lazy_source* holding none (the source outlives the
  // handle; see lazy_source.h).
  static constexpr std::uintptr_t lazy_bit = 1;

  explicit context(std::uintptr_t bits) noexcept : bits_(bits) {}
  static std::uintptr_t to_bits(const void* p) noexcept {
    return reinterpret_cast<std::uintptr_t>(p);
  }
  bool is_lazy() const noexcept { return (bits_ & lazy_bit) != 0; }
  detail::node* as_node() const noexcept {
    return reinterpret_cast<detail::node*>(bits_);
  }
  const detail::lazy_source* as_lazy() const noexcept {
    return reinterpret_cast<const detail::lazy_source*>(bits_ & ~lazy_bit);
  }
  // node_or_materialize is the node behind this handle, creating a lazy
  // source's node if needed; no reference is taken.
  detail::node* node_or_materialize() const noexcept {
    return is_lazy() ? as_lazy()->materialize() : as_node();
  }
  // shared_bits is the word for a new handle on this context.
  std::uintptr_t shared_bits() const noexcept {
    detail::node* n = node_or_materialize();
    n->ref();
    return to_bits(n);
  }
  const detail::node* values_start() const noexcept {
    return is_lazy() ? as_lazy()->values_node() : as_node();
  }
  std::uintptr_t identity() const noexcept {
    if (!is_lazy()) return bits_;
    const detail::node* n = as_lazy()->materialized();
    return n != nullptr ? to_bits(n) : bits_;
  }
  void release() noexcept {
    if (!is_lazy()) as_node()->unref();
  }

  std::uintptr_t bits_;
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
  // get returns the node behind `ctx` (creating a lazy source's node);
  // no reference is taken.
  static node* get(const context& ctx) noexcept {
    return ctx.node_or_materialize();
  }
  static context adopt(node* n) noexcept {
    return context(context::to_bits(n));
  }
  // lazy returns a handle on `source` that holds no reference.
  static context lazy(const lazy_source* source) noexcept {
    return context(context::to_bits(source) | context::lazy_bit);
  }
  // lazy_of returns the source behind a lazy handle, or null.
  static const lazy_source* lazy_of(const context& ctx) noexcept {
    return ctx.is_lazy() ? ctx.as_lazy() : nullptr;
  }
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
