// The node behind a tbbx::context handle. Internal: use
// <tbbx/context/context.h>.
//
// Every context is one reference-counted node. Nodes form a tree through
// `parent_` (each child holds a reference on its parent, for value lookup and
// so that the parent outlives the child's unlinking). A parent knows its live
// children through an intrusive list guarded by its `lock_`, so that
// cancellation can reach them without a thread per child.
//
// Cancellation (`cancel_node`) marks the whole subtree done first, one node
// at a time through an intrusive work list (bounded stack at any depth, no
// allocation, time proportional to the subtree), and only then runs the
// callbacks of each node. A node leaves its parent's list when it is canceled
// or when its last reference goes away, so a long-lived parent does not
// accumulate dead children.
//
// Lock order: a node's `lock_` is never held while another node's `lock_`
// is taken, and no lock is held while a callback runs.
#ifndef TBBX_CONTEXT_DETAIL_NODE_H_
#define TBBX_CONTEXT_DETAIL_NODE_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <thread>
#include <utility>

#include "tbbx/context/detail/spin_lock.h"
#include "tbbx/context/errors.h"
#include "tbbx/scheduler/detail/timer_service.h"

namespace tbbx::detail {

using time_point = std::chrono::steady_clock::time_point;
inline constexpr time_point no_deadline = time_point::max();

// callback_node is one registered callback, intrusive in its node's list.
// Its owner keeps it alive until deregister_callback returns or the callback
// has run.
struct callback_node {
  using invoke_fn = void (*)(callback_node*) noexcept;
  explicit callback_node(invoke_fn f) noexcept : invoke(f) {}

  invoke_fn invoke;               // set once
  callback_node* prev = nullptr;  // guarded by the owning node's lock_
  callback_node* next = nullptr;  // guarded by the owning node's lock_
  bool queued = false;            // guarded by the owning node's lock_
};

// default_cause returns the shared exception object for `e`.
const std::exception_ptr& default_cause(errc e) noexcept;

class node {
 public:
  enum class kind : std::uint8_t {
    background,  // the immortal root
    cancel,      // with_cancel / with_deadline / with_timeout
    value,       // with_value: ends with its parent only
    detached,    // without_cancel: a root for cancellation, keeps values
  };

  // done is the whole cost of context::done(): one acquire load. Everything
  // the canceling thread wrote before the cancel is visible after it.
  bool done() const noexcept {
    return state_.load(std::memory_order_acquire) != 0;
  }

  void ref() noexcept {
    if (kind_ != kind::background)
      refs_.fetch_add(1, std::memory_order_relaxed);
  }
  void unref() noexcept {
    if (kind_ != kind::background &&
        refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      destroy(this);
    }
  }

  const node* parent() const noexcept { return parent_; }
  const void* key() const noexcept { return key_; }
  const void* value() const noexcept { return value_; }
  time_point deadline() const noexcept { return deadline_; }
  // can_end is false when nothing can ever make this node done.
  bool can_end() const noexcept { return can_end_; }
  // err and cause are meaningful only once done() has returned true. A
  // default cause is not stored per node (copying one shared exception_ptr
  // into every node would make all threads write its reference count).
  errc err() const noexcept { return err_; }
  const std::exception_ptr& cause() const noexcept {
    return cause_ != nullptr ? cause_ : default_cause(err_);
  }

  // wait blocks until done(), without polling.
  void wait() const noexcept;

  // Nodes come from a small per-thread cache: contexts are made and dropped
  // at task rate (one per error_group, say) and malloc is a measurable part
  // of that. Value nodes (other sizes) go to the global allocator.
  static void* operator new(std::size_t size);
  static void* operator new(std::size_t size, const std::nothrow_t&) noexcept;
  static void operator delete(void* p, std::size_t size) noexcept;

  // node takes over one reference on `parent` (which may be null only for
  // the background root). Construct with new, finish with attach().
  node(kind k, node* parent) noexcept;
  virtual ~node();
  node(const node&) = delete;
  node& operator=(const node&) = delete;

  // attach links a fully built child into its parent; call it last in every
  // constructor path, because from then on other threads can cancel it.
  // If the parent is already done, the node ends at once with its cause.
  void attach() noexcept;

 protected:
  void set_value(const void* key, const void* value) noexcept {
    key_ = key;
    value_ = value;
  }

 private:
  friend struct node_access;
  friend node* make_cancel_node(node*, time_point, std::exception_ptr);
  friend void cancel_node(node*, errc, std::exception_ptr) noexcept;
  friend bool register_callback(node*, callback_node*) noexcept;
  friend bool deregister_callback(node*, callback_node*) noexcept;
  friend std::size_t live_child_count(node*) noexcept;
  static void destroy(node* n) noexcept;
  bool try_ref() noexcept;

  // Immutable after construction.
  node* const parent_;  // holds a reference; nullptr for roots
  const kind kind_;
  bool can_end_ = false;
  const void* key_ = nullptr;          // value nodes: the context_key's address
  const void* value_ = nullptr;        // value nodes: the stored value
  time_point deadline_ = no_deadline;  // earliest deadline in the chain
  std::exception_ptr deadline_cause_;  // cause() when the own deadline fires

  std::atomic<std::uint32_t> state_{0};  // 0 live, 1 done; set under lock_
  std::atomic<std::uint32_t> refs_{1};
  // Bumped after each callback returns, so that a deregistering thread can
  // wait for a running callback on memory that outlives it.
  std::atomic<std::uint32_t> callbacks_finished_{0};

  // Written once under lock_ before state_ becomes 1, then read-only. A
  // null cause_ means the default cause for err_.
  errc err_{};
  std::exception_ptr cause_;

  mutable spin_lock lock_;
  // Set under lock_ by the first registration; lets finish() skip the lock
  // for the common node that never had a callback.
  bool had_callbacks_ = false;
  node* first_child_ = nullptr;                // guarded by lock_
  callback_node* first_callback_ = nullptr;    // guarded by lock_
  callback_node* last_callback_ = nullptr;     // guarded by lock_
  callback_node* running_callback_ = nullptr;  // guarded by lock_
  std::thread::id running_thread_;             // guarded by lock_

  node* prev_sibling_ = nullptr;  // guarded by parent_->lock_
  node* next_sibling_ = nullptr;  // guarded by parent_->lock_
  // Written under parent_->lock_; read without it by destroy(), which needs
  // the lock only if the node is still linked (once false, never true).
  std::atomic<bool> linked_{false};

  node* work_next_ = nullptr;  // owned by the one thread canceling it

  struct deadline_timer : timer_entry {
    explicit deadline_timer(node* n) noexcept;
    node* owner;
  };
  deadline_timer timer_{this};    // queued while the own deadline is pending;
                                  // the queue holds a reference on the node
  bool timer_scheduled_ = false;  // set under lock_ while live, then read-only
};

// background_node is the immortal, never-done root.
node* background_node() noexcept;

// make_cancel_node returns a node (one reference) that ends with its parent,
// at `deadline` (with `deadline_cause`, or deadline_exceeded_error if null),
// or when cancel_node is called on it.
node* make_cancel_node(node* parent, time_point deadline,
                       std::exception_ptr deadline_cause);

// make_value_node returns a node (one reference) holding `v` under `key`.
template <class T, class U>
node* make_value_node(node* parent, const void* key, U&& v);

// make_detached_node returns a node (one reference) that shares parent's
// values but never ends.
node* make_detached_node(node* parent);

// value_node stores a T that lives as long as the node.
template <class T>
class value_node final : public node {
 public:
  template <class U>
  value_node(node* parent, const void* key, U&& v)
      : node(kind::value, parent), stored_(std::forward<U>(v)) {
    set_value(key, &stored_);
  }

 private:
  T stored_;
};

template <class T, class U>
node* make_value_node(node* parent, const void* key, U&& v) {
  parent->ref();
  node* n;
  try {
    n = new value_node<T>(parent, key, std::forward<U>(v));
  } catch (...) {
    parent->unref();
    throw;
  }
  n->attach();
  return n;
}

// cancel_node makes `n` and its subtree done with (e, cause). A null cause
// becomes the default exception for `e`. The first cancellation wins; later
// calls do nothing. The caller must hold a reference on `n`.
void cancel_node(node* n, errc e, std::exception_ptr cause) noexcept;

// register_callback queues `cb` to run when `n` ends and returns true, or
// returns false (without queuing) when `n` is already done: the caller then
// runs the callback itself.
bool register_callback(node* n, callback_node* cb) noexcept;

// deregister_callback returns true if `cb` was still queued and is removed.
// Otherwise `cb` has run or is running; if it is running on another thread,
// this waits until it returns (unless called from inside the callback).
bool deregister_callback(node* n, callback_node* cb) noexcept;

// live_child_count counts the children linked under `n` (for tests and
// diagnostics; it takes n's lock).
std::size_t live_child_count(node* n) noexcept;

}  // namespace tbbx::detail

#endif  // TBBX_CONTEXT_DETAIL_NODE_H_
