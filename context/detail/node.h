// SPDX-License-Identifier: Apache-2.0
// The node behind a tbbx::context handle. Internal: use
// <tbbx/context/context.h>.
//
// Every context is one reference-counted node of the cancellation tree
// (tree.h). A node holds a reference on its parent (`parent_`, for value
// lookup, for the deadline and so that the parent outlives the child's
// unlinking) and is linked in its parent's child list while it can still
// end, so that canceling reaches it; it leaves that list when it ends or
// when its last reference goes. A long-lived parent therefore never
// accumulates dead children.
//
// Kinds: background (the immortal root), cancel (with_cancel), deadline
// (with_deadline / with_timeout: it owns a timer entry), value
// (with_value), detached (without_cancel: a root for cancellation that
// keeps the values) and shadow (the node that handles on an error_group's
// context share; its tree parent is the group, see group_core.h).
//
// Callbacks (on_done, after_func, waits that watch a context) are
// intrusive callback_nodes in the node's list, run once the node's subtree
// is complete, one at a time, with no lock held, by the canceling thread.
// The timer thread runs only the ones marked timer_safe (they never block
// and never call into oneTBB or user code) and hands the node to the
// deferred runner (deferred.h) for the rest, so user code never delays a
// deadline.
#ifndef TBBX_CONTEXT_DETAIL_NODE_H_
#define TBBX_CONTEXT_DETAIL_NODE_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <utility>

#include "tbbx/context/detail/export.h"
#include "tbbx/context/detail/intrusive_list.h"
#include "tbbx/context/detail/timer_entry.h"
#include "tbbx/context/detail/tree.h"

namespace tbbx::detail {

inline constexpr time_point no_deadline = time_point::max();

// callback_node is one registered callback. Its owner keeps it alive until
// deregister_callback returns or the callback has run.
struct TBBX_API callback_node {
  using invoke_fn = void (*)(callback_node*) noexcept;
  explicit callback_node(invoke_fn f, bool is_timer_safe = false) noexcept
      : invoke(f), timer_safe(is_timer_safe) {}

  invoke_fn invoke;               // set once
  bool timer_safe;                // set once: may run on the timer thread
  list_hook<callback_node> hook;  // guarded by the node's lock
};

class TBBX_API node : public tree_node {
 public:
  enum class kind : std::uint8_t {
    background,
    cancel,
    deadline,
    value,
    detached,
    shadow,
  };

  void ref() noexcept {
    if (own_kind() != kind::background) {
      refs_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  void unref() noexcept {
    if (own_kind() != kind::background &&
        refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      destroy(this);
    }
  }

  kind own_kind() const noexcept { return static_cast<kind>(kind_); }
  const node* parent() const noexcept { return parent_; }
  // deadline is the earliest deadline in the chain.
  time_point deadline() const noexcept { return deadline_; }
  // can_end is false when nothing can ever make this node done.
  bool can_end() const noexcept { return (traits_ & kCanEnd) != 0; }

  node* materialize() noexcept override { return this; }
  const node* values_node() const noexcept override { return this; }
  const node* existing_node() const noexcept override { return this; }

  // Nodes come from a small per-thread cache: contexts are made and dropped
  // at task rate and malloc is a measurable part of that. Over-aligned
  // value types get the aligned global form.
  static void* operator new(std::size_t size);
  static void operator delete(void* p, std::size_t size) noexcept;
  static void* operator new(std::size_t size, std::align_val_t align);
  static void operator delete(void* p, std::size_t size,
                              std::align_val_t align) noexcept;

 protected:
  // node takes over one reference on `parent` (null only for the
  // background root). Finish construction with attach(). `own_deadline`
  // is the node's own deadline, if it has one.
  node(kind k, node* parent, time_point own_deadline = no_deadline) noexcept;
  ~node() override;

  // attach links a fully built node into its parent; call it last in
  // every constructor path: from then on other threads can cancel it. If
  // the parent is done already, the node ends at once with its end.
  void attach() noexcept;

  bool try_pin() noexcept override;
  void unpin() noexcept override { unref(); }
  void finish() noexcept override;
  bool release_early_locked() noexcept override;
  void leave_tree_parent() noexcept override;
  tree_node* walk_parent_locked() noexcept override { return parent_; }

 private:
  friend struct node_access;
  friend node* make_cancel_node(node*, time_point, std::exception_ptr,
                                time_point);
  friend node* make_deadline_node(node*, time_point, bool, time_point);
  friend node* make_detached_node(node*);
  friend bool register_callback(node*, callback_node*) noexcept;
  friend bool deregister_callback(node*, callback_node*) noexcept;
  friend void run_deferred_node(node*) noexcept;
  friend bool deadline_lock_orphaned(timer_entry*) noexcept;

  static constexpr std::uint8_t kCanEnd = 1;        // in traits_ (2: kinds')
  static constexpr std::uint8_t kHadCallbacks = 1;  // in flags_ (lock_)
  static constexpr std::uint8_t kDeferDestroy = 1;  // in dying_

  // destroy frees `n` and drops its references up the chain, or, on the
  // timer thread, hands that to the deferred runner.
  static void destroy(node* n) noexcept;
  static void destroy_now(node* n) noexcept;
  void run_deferred_callbacks() noexcept;
  static pi_lock& lock_of(node* n) noexcept { return n->lock_; }
  // run_callbacks runs the queued callbacks (on the timer thread only the
  // timer-safe ones); returns whether some are left for the deferred
  // runner.
  bool run_callbacks() noexcept;

  node* const parent_;  // holds a reference; null for roots
  std::atomic<std::uint32_t> refs_{1};
  // Bumped after each callback returns, so that a deregistering thread can
  // wait for a running callback on memory that outlives it.
  std::atomic<std::uint32_t> callbacks_finished_{0};
  time_point deadline_ = no_deadline;  // earliest in the chain; immutable
  intrusive_list<callback_node, &callback_node::hook> callbacks_;  // lock_
  callback_node* running_callback_ = nullptr;                      // lock_
  std::uint32_t running_tid_ = 0;                                  // lock_
};

// background_node is the immortal, never-done root.
TBBX_API node* background_node() noexcept;

// make_cancel_node returns a node (one reference) that ends with its
// parent, at `deadline` (with `deadline_cause`, or deadline_exceeded_error
// if null), or when cancel_node is called on it. Throws bad_alloc.
// `now` is the caller's reading of the clock, taken just before, or
// time_point::min() to have the clock read here: a deadline at or before
// it ends the node at once, a later one is scheduled (with_timeout passes
// the reading its deadline was computed from, and so reads the clock once).
TBBX_API node* make_cancel_node(node* parent, time_point deadline,
                                std::exception_ptr deadline_cause,
                                time_point now);

// make_deadline_node is make_cancel_node for a deadline whose cause, if
// any, its caller has put in `parent` (a private value node).
TBBX_API node* make_deadline_node(node* parent, time_point deadline,
                                  bool cause_in_parent, time_point now);

// make_detached_node returns a node (one reference) that shares parent's
// values but never ends.
TBBX_API node* make_detached_node(node* parent);

// shadow_node is the node behind the handles on a lazy tree node's context
// (an error_group's): its tree parent is the group, which links it, keeps
// one reference on it while the group lives, and cancels it with itself;
// its values parent (node::parent()) is the group's values node.
class TBBX_API shadow_node final : public node {
 public:
  // make returns a shadow node (one reference, which the caller owns) of
  // `group`, linked under it, or done at once with its end. Throws
  // bad_alloc.
  static shadow_node* make(node* values_parent, tree_node* group);

 private:
  shadow_node(node* values_parent, tree_node* group) noexcept
      : node(kind::shadow, values_parent), group_(group) {}

  void forget_tree_parent_locked() noexcept override { group_ = nullptr; }
  void leave_tree_parent() noexcept override {
    tree::leave_parent(this, group_);
  }
  tree_node* walk_parent_locked() noexcept override { return group_; }

  tree_node* group_;  // the tree parent while linked; guarded by lock_
};

// value_node_base is what value lookup reads: the key and the value.
class TBBX_API value_node_base : public node {
 public:
  const void* key() const noexcept { return key_; }
  const void* value() const noexcept { return value_; }

 protected:
  value_node_base(node* parent, const void* key) noexcept
      : node(kind::value, parent), key_(key) {}
  void set_value(const void* v) noexcept { value_ = v; }
  void attach_value() noexcept { attach(); }

 private:
  const void* const key_;
  const void* value_ = nullptr;
};

// value_node stores a T that lives as long as the node.
template <class T>
class value_node final : public value_node_base {
 public:
  template <class U>
  value_node(node* parent, const void* key, U&& v)
      : value_node_base(parent, key), stored_(std::forward<U>(v)) {
    set_value(&stored_);
  }
  // make returns a new value node (one reference), linked.
  template <class U>
  static node* make(node* parent, const void* key, U&& v) {
    parent->ref();
    value_node* n;
    try {
      n = new value_node(parent, key, std::forward<U>(v));
    } catch (...) {
      parent->unref();
      throw;
    }
    n->attach_value();
    return n;
  }

 private:
  T stored_;
};

// find_value returns the value stored under `key` by the nearest value
// node from `n` up, or null.
inline const void* find_value(const node* n, const void* key) noexcept {
  for (; n != nullptr; n = n->parent()) {
    if (n->own_kind() == node::kind::value) {
      const auto* v = static_cast<const value_node_base*>(n);
      if (v->key() == key) return v->value();
    }
  }
  return nullptr;
}

// values_anchor returns `n`, or the nearest node above it that is not a
// plain cancel node (kind::cancel holds no value and inherits its
// deadline): value() and deadline() looked up from there answer as from
// `n`. Above a chain of with_cancel contexts it is background(), which
// needs no reference.
inline node* values_anchor(node* n) noexcept {
  while (n->own_kind() == node::kind::cancel) {
    n = const_cast<node*>(n->parent());
  }
  return n;
}

// cancel_node makes `n` and its subtree done with (e, cause) and returns
// true, or returns false if `n` was done already; either way the subtree
// is complete when it returns. A null cause means the default exception
// for `e` (for a deadline: the node's deadline cause). The caller holds a
// reference on `n`.
TBBX_API bool cancel_node(node* n, errc e, std::exception_ptr cause) noexcept;

// deadline_lock_orphaned: in a fork()ed child (one thread), whether `e` is
// a context's deadline whose node lock another thread held at the fork.
bool deadline_lock_orphaned(timer_entry* e) noexcept;

// register_callback queues `cb` to run when `n` ends and returns true, or
// returns false (without queuing) when `n` is already done: the caller
// then runs the callback itself. Never blocks for long, never throws.
TBBX_API bool register_callback(node* n, callback_node* cb) noexcept;

// deregister_callback returns true if `cb` was still queued and is
// removed: it never ran and never will. Otherwise `cb` has run or is
// running; if it is running on another thread, this waits until it
// returns (unless called from inside the callback). It takes n's lock and
// no other: calling it while holding a lock that `cb` takes would
// deadlock, which is why tbbx's own callbacks take none.
TBBX_API bool deregister_callback(node* n, callback_node* cb) noexcept;

// live_child_count counts the children linked under `n` (for tests and
// diagnostics; it takes n's lock).
inline std::size_t live_child_count(node* n) noexcept {
  return tree::live_children(n);
}

}  // namespace tbbx::detail

#endif  // TBBX_CONTEXT_DETAIL_NODE_H_
