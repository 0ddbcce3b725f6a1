// SPDX-License-Identifier: Apache-2.0
#include "tbbx/context/detail/node.h"

#include <mutex>
#include <new>

#include "tbbx/context/detail/deferred.h"
#include "tbbx/context/detail/thread_role.h"
#include "tbbx/context/detail/timer_service.h"

namespace tbbx::detail {

namespace {

// deadline_node is a cancel node with a deadline of its own: it owns the
// timer entry that fires it. A deadline with a cause of its own (rare:
// with_deadline(parent, d, cause)) keeps the cause in a private value node
// between it and its parent, so the common deadline node carries no cause
// pointer (node size targets: 128 / 160 bytes, asserted below).
class deadline_node final : public node, public timer_entry {
 public:
  deadline_node(node* parent, time_point d, bool cause_in_parent) noexcept
      : node(kind::deadline, parent, d), timer_entry(&fire) {
    if (cause_in_parent) traits_ |= kCauseInParent;
  }

  // deadline_cause is the cause it ends with at its deadline, or null for
  // the default (deadline_exceeded_error).
  const std::exception_ptr* deadline_cause() const noexcept {
    if ((traits_ & kCauseInParent) == 0) return nullptr;
    const auto* holder = static_cast<const value_node_base*>(parent());
    return static_cast<const std::exception_ptr*>(holder->value());
  }
  void finish_timer() noexcept {
    // A timer still queued holds a reference on the node (the caller of
    // finish holds another).
    if (timer_service::instance().cancel(*this)) unref();
  }

  static bool is_deadline(const timer_entry* e) noexcept {
    return e->fire == &fire;
  }

  // The key of the private value node that holds a deadline's own cause.
  static constexpr char cause_key = 0;

 private:
  static constexpr std::uint8_t kCauseInParent = 2;  // in traits_

  static void fire(timer_entry* e) noexcept {
    auto* self = static_cast<deadline_node*>(e);
    cancel_node(self, errc::deadline_exceeded, nullptr);
    self->unref();  // the queue's reference
  }
};

// The targets of the scale issue: memory per live context.
static_assert(sizeof(node) <= 128, "a plain context node grew past 128 B");
static_assert(sizeof(deadline_node) <= 160,
              "a context node with a deadline grew past 160 B");

struct background_root final : node {
  background_root() noexcept : node(kind::background, nullptr) {}
};

// node_cache keeps freed node blocks of the two common sizes (plain and
// with a deadline) for reuse by the same thread. Under AddressSanitizer it
// is off, so that use-after-free stays detectable.
#if defined(__SANITIZE_ADDRESS__)
constexpr int kCachedNodes = 0;
#else
constexpr int kCachedNodes = 256;
#endif

struct node_cache {
  struct block {
    block* next;
  };
  struct size_class {
    block* free = nullptr;
    int count = 0;
  };
  size_class plain, timed;
  ~node_cache();
  size_class* for_size(std::size_t size) noexcept {
    if (size == sizeof(node)) return &plain;
    if (size == sizeof(deadline_node)) return &timed;
    return nullptr;
  }
};

// 0 before this thread first uses its cache, 1 while it lives, 2 once it
// is destroyed at thread exit (nodes freed later go to the global heap).
// Trivially destructible, so it stays readable to the end.
constinit thread_local int cache_state = 0;
thread_local node_cache cache;

node_cache::~node_cache() {
  cache_state = 2;
  for (size_class* c : {&plain, &timed}) {
    while (c->free != nullptr) {
      block* b = c->free;
      c->free = b->next;
      ::operator delete(b);
    }
  }
}

node_cache* this_thread_cache() noexcept {
  if (cache_state == 0) {
    cache.plain.count = 0;  // the first use constructs it
    cache_state = 1;
  }
  return cache_state == 1 ? &cache : nullptr;
}

}  // namespace

bool deadline_lock_orphaned(timer_entry* e) noexcept {
  return deadline_node::is_deadline(e) &&
         node::lock_of(static_cast<deadline_node*>(e)).held_by_anyone();
}

void* node::operator new(std::size_t size) {
  if (cache_state == 1) {
    if (node_cache::size_class* c = cache.for_size(size);
        c != nullptr && c->free != nullptr) {
      node_cache::block* b = c->free;
      c->free = b->next;
      --c->count;
      return b;
    }
  }
  return ::operator new(size);
}

void node::operator delete(void* p, std::size_t size) noexcept {
  if (kCachedNodes > 0) {
    node_cache* cache_here = this_thread_cache();
    if (cache_here != nullptr) {
      node_cache::size_class* c = cache_here->for_size(size);
      if (c != nullptr && c->count < kCachedNodes) {
        auto* b = static_cast<node_cache::block*>(p);
        b->next = c->free;
        c->free = b;
        ++c->count;
        return;
      }
    }
  }
  ::operator delete(p);
}

void* node::operator new(std::size_t size, std::align_val_t align) {
  return ::operator new(size, align);
}

void node::operator delete(void* p, std::size_t size,
                           std::align_val_t align) noexcept {
  // Unsized: clang before 19 declares sized deallocation only with
  // -fsized-deallocation.
  static_cast<void>(size);
  ::operator delete(p, align);
}

node::node(kind k, node* parent, time_point own_deadline) noexcept
    : parent_(parent) {
  kind_ = static_cast<std::uint8_t>(k);
  if (parent_ != nullptr && k != kind::detached) {
    deadline_ = parent_->deadline_;
    if (parent_->can_end()) traits_ |= kCanEnd;
  }
  if (k == kind::cancel || k == kind::deadline || k == kind::shadow) {
    traits_ |= kCanEnd;
  }
  if (own_deadline < deadline_) deadline_ = own_deadline;
}

node::~node() = default;

void node::attach() noexcept {
  if (parent_ == nullptr || !parent_->can_end() ||
      own_kind() == kind::detached) {
    return;
  }
  if (!tree::link(parent_, this)) tree::adopt(parent_, this);
}

bool node::try_pin() noexcept {
  std::uint32_t count = refs_.load(std::memory_order_relaxed);
  while (count != 0) {
    if (refs_.compare_exchange_weak(count, count + 1, std::memory_order_acquire,
                                    std::memory_order_relaxed)) {
      return true;
    }
  }
  return false;
}

void node::leave_tree_parent() noexcept {
  if (parent_ == nullptr || !parent_->can_end() ||
      own_kind() == kind::detached) {
    return;
  }
  tree::unlink(parent_, this);
}

bool node::release_early_locked() noexcept {
  // Nothing to finish: no timer to disarm, no callback ever registered
  // (kHadCallbacks is only set under lock_, which we hold).
  if (own_kind() == kind::deadline || (flags_ & kHadCallbacks) != 0) {
    return false;
  }
  std::uint32_t count = refs_.load(std::memory_order_relaxed);
  while (count > 1) {  // never the last: freeing waits for the second pass
    if (refs_.compare_exchange_weak(count, count - 1, std::memory_order_release,
                                    std::memory_order_relaxed)) {
      return true;
    }
  }
  return false;
}

void node::finish() noexcept {
  if (own_kind() == kind::deadline) {
    static_cast<deadline_node*>(this)->finish_timer();
  }
  // kHadCallbacks is set under lock_ before the node was marked done, and
  // the marking took lock_ since.
  if ((flags_ & kHadCallbacks) == 0) return;
  if (run_callbacks()) {
    // The timer thread left user callbacks: the deferred runner runs them.
    ref();
    deferred_runner::instance().push_node(this);
  }
}

bool node::run_callbacks() noexcept {
  const bool on_timer = on_timer_thread();
  const std::uint32_t self = this_thread_tid();
  auto eligible = [&](callback_node* cb) {
    while (cb != nullptr && on_timer && !cb->timer_safe) {
      cb = decltype(callbacks_)::next(cb);
    }
    return cb;
  };
  std::unique_lock lock(lock_);
  while (callback_node* cb = eligible(callbacks_.front())) {
    callbacks_.remove(cb);
    running_callback_ = cb;
    running_tid_ = self;
    lock.unlock();
    cb->invoke(cb);  // may free cb; it is not touched again
    lock.lock();
    running_callback_ = nullptr;
    callbacks_finished_.fetch_add(1, std::memory_order_release);
    lock.unlock();
    callbacks_finished_.notify_all();
    lock.lock();
  }
  return !callbacks_.empty();
}

void run_deferred_node(node* n) noexcept {
  if ((n->dying_ & node::kDeferDestroy) != 0) {
    node::destroy_now(n);
    return;
  }
  n->run_deferred_callbacks();
}

void node::run_deferred_callbacks() noexcept {
  run_callbacks();
  unref();  // the reference finish() took for the runner
}

// destroy walks up the chain iteratively, so that dropping the last handle
// of a 10^6-deep chain uses constant stack. The timer thread never frees
// memory (the allocator's locks do not lend priority): it hands the node
// to the deferred runner.
void node::destroy(node* n) noexcept {
  if (on_timer_thread()) {
    n->dying_ |= kDeferDestroy;
    deferred_runner::instance().push_node(n);
    return;
  }
  destroy_now(n);
}

void node::destroy_now(node* n) noexcept {
  while (n != nullptr) {
    node* parent = n->parent_;
    n->leave_tree_parent();
    delete n;
    if (parent == nullptr || parent->own_kind() == kind::background) return;
    if (parent->refs_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    n = parent;
  }
}

node* background_node() noexcept {
  static background_root root;
  return &root;
}

node* make_cancel_node(node* parent, time_point deadline,
                       std::exception_ptr deadline_cause, time_point now) {
  const bool own_deadline = deadline < parent->deadline();
  if (own_deadline && deadline_cause != nullptr) {
    node* holder = value_node<std::exception_ptr>::make(
        parent, &deadline_node::cause_key, std::move(deadline_cause));
    node* n;
    try {
      n = make_deadline_node(holder, deadline, /*cause_in_parent=*/true, now);
    } catch (...) {
      holder->unref();
      throw;
    }
    holder->unref();  // the deadline node holds it now
    return n;
  }
  return make_deadline_node(parent, deadline, /*cause_in_parent=*/false, now);
}

node* make_deadline_node(node* parent, time_point deadline,
                         bool cause_in_parent, time_point now) {
  const bool own_deadline = deadline < parent->deadline();
  if (own_deadline) timer_service::instance().start();  // may throw
  parent->ref();
  node* n;
  try {
    if (own_deadline) {
      n = new deadline_node(parent, deadline, cause_in_parent);
    } else {
      n = new node(node::kind::cancel, parent);
    }
  } catch (...) {
    parent->unref();
    throw;
  }
  n->attach();
  if (!own_deadline) return n;
  auto* timed = static_cast<deadline_node*>(n);
  if (now == time_point::min()) now = std::chrono::steady_clock::now();
  if (deadline <= now) {
    cancel_node(n, errc::deadline_exceeded, nullptr);
    return n;
  }
  // Scheduled under lock_ and only while live, so that finish(), which
  // runs after the node is marked done, always finds and drops the timer.
  std::lock_guard lock(node::lock_of(n));
  if (!n->done()) {
    n->ref();  // the queue's
    timer_service::instance().schedule(*timed, deadline);
  }
  return n;
}

shadow_node* shadow_node::make(node* values_parent, tree_node* group) {
  values_parent->ref();
  shadow_node* n;
  try {
    n = new shadow_node(values_parent, group);
  } catch (...) {
    values_parent->unref();
    throw;
  }
  if (!tree::link(group, n)) {
    n->group_ = nullptr;
    tree::adopt(group, n);
  }
  return n;
}

node* make_detached_node(node* parent) {
  parent->ref();
  try {
    return new node(node::kind::detached, parent);
  } catch (...) {
    parent->unref();
    throw;
  }
}

bool cancel_node(node* n, errc e, std::exception_ptr cause) noexcept {
  if (cause == nullptr && e == errc::deadline_exceeded &&
      n->own_kind() == node::kind::deadline) {
    if (const auto* own = static_cast<deadline_node*>(n)->deadline_cause()) {
      cause = *own;
    }
  }
  return tree::cancel(n, e, std::move(cause));
}

bool register_callback(node* n, callback_node* cb) noexcept {
  std::lock_guard lock(node::lock_of(n));
  if (n->done()) return false;
  n->callbacks_.push_back(cb);
  n->flags_ |= node::kHadCallbacks;
  return true;
}

bool deregister_callback(node* n, callback_node* cb) noexcept {
  std::unique_lock lock(node::lock_of(n));
  if (decltype(n->callbacks_)::linked(cb)) {
    n->callbacks_.remove(cb);
    return true;
  }
  const std::uint32_t self = this_thread_tid();
  while (n->running_callback_ == cb && n->running_tid_ != self) {
    const std::uint32_t seen =
        n->callbacks_finished_.load(std::memory_order_acquire);
    lock.unlock();
    n->callbacks_finished_.wait(seen, std::memory_order_acquire);
    lock.lock();
  }
  return false;
}

}  // namespace tbbx::detail
