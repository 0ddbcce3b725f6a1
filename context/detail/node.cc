#include "tbbx/context/detail/node.h"

#include <new>

namespace tbbx::detail {

// node_access holds the tree algorithms that touch several nodes' private
// state; keeping them in one place keeps the locking rules in one place.
struct node_access {
  // mark_done makes `n` done under its lock and moves its children (with a
  // reference each) onto `work`. Returns false if `n` was done already.
  static bool mark_done(node* n, errc e, const std::exception_ptr& cause,
                        node*& work) noexcept {
    {
      std::lock_guard lock(n->lock_);
      if (n->state_.load(std::memory_order_relaxed) != 0) return false;
      n->err_ = e;
      n->cause_ = cause;
      n->state_.store(1, std::memory_order_release);
      for (node* child = n->first_child_; child != nullptr;) {
        node* next = child->next_sibling_;
        child->linked_.store(false, std::memory_order_relaxed);
        child->prev_sibling_ = child->next_sibling_ = nullptr;
        // A child whose count already hit zero is being destroyed by another
        // thread, which will find it unlinked; nobody can observe it.
        if (child->try_ref()) {
          child->work_next_ = work;
          work = child;
        }
        child = next;
      }
      n->first_child_ = nullptr;
    }
    n->state_.notify_all();
    return true;
  }

  static void link(node* parent, node* child) noexcept {
    child->prev_sibling_ = nullptr;
    child->next_sibling_ = parent->first_child_;
    if (parent->first_child_ != nullptr) {
      parent->first_child_->prev_sibling_ = child;
    }
    parent->first_child_ = child;
    child->linked_.store(true, std::memory_order_relaxed);
  }

  static void unlink_locked(node* parent, node* child) noexcept {
    if (!child->linked_.load(std::memory_order_relaxed)) return;
    if (child->prev_sibling_ != nullptr) {
      child->prev_sibling_->next_sibling_ = child->next_sibling_;
    } else {
      parent->first_child_ = child->next_sibling_;
    }
    if (child->next_sibling_ != nullptr) {
      child->next_sibling_->prev_sibling_ = child->prev_sibling_;
    }
    child->prev_sibling_ = child->next_sibling_ = nullptr;
    child->linked_.store(false, std::memory_order_release);
  }

  static void unlink_from_parent(node* n) noexcept {
    node* parent = n->parent_;
    if (parent == nullptr || !parent->can_end_ ||
        n->kind_ == node::kind::detached) {
      return;
    }
    std::lock_guard lock(parent->lock_);
    unlink_locked(parent, n);
  }

  static void fire_deadline(timer_entry* e) noexcept {
    node* n = static_cast<node::deadline_timer*>(e)->owner;
    cancel_node(n, errc::deadline_exceeded, nullptr);
    n->unref();  // the queue's reference
  }

  // finish runs after `n` is marked done: it drops the pending deadline and
  // runs the callbacks, one at a time, with no lock held.
  static void finish(node* n) noexcept {
    if (n->timer_scheduled_ && timer_service::instance().cancel(n->timer_)) {
      n->unref();  // the queue's reference; the caller still holds one
    }
    // had_callbacks_ is set under lock_ before the node was marked done,
    // and we marked it (or saw it marked) under lock_ since.
    if (!n->had_callbacks_) return;
    const std::thread::id self = std::this_thread::get_id();
    std::unique_lock lock(n->lock_);
    while (callback_node* cb = n->first_callback_) {
      n->first_callback_ = cb->next;
      if (n->first_callback_ == nullptr) {
        n->last_callback_ = nullptr;
      } else {
        n->first_callback_->prev = nullptr;
      }
      cb->prev = cb->next = nullptr;
      cb->queued = false;
      n->running_callback_ = cb;
      n->running_thread_ = self;
      lock.unlock();
      cb->invoke(cb);  // may free cb; it is not touched again
      lock.lock();
      n->running_callback_ = nullptr;
      n->callbacks_finished_.fetch_add(1, std::memory_order_release);
      lock.unlock();
      n->callbacks_finished_.notify_all();
      lock.lock();
    }
  }
};

namespace {

// node_cache keeps freed node blocks for reuse by the same thread. Under
// AddressSanitizer it is off, so that use-after-free stays detectable.
#if defined(__SANITIZE_ADDRESS__)
constexpr int kCachedNodes = 0;
#else
constexpr int kCachedNodes = 256;
#endif

struct node_cache {
  struct block {
    block* next;
  };
  block* free = nullptr;
  int count = 0;
  ~node_cache();
};

// 0 before this thread first uses its cache, 1 while it lives, 2 once it
// is destroyed at thread exit (nodes freed later go to the global heap).
// Trivially destructible, so it stays readable to the end.
constinit thread_local int cache_state = 0;
thread_local node_cache cache;

node_cache::~node_cache() {
  cache_state = 2;
  while (free != nullptr) {
    block* b = free;
    free = b->next;
    ::operator delete(b);
  }
}

node_cache* this_thread_cache() noexcept {
  if (cache_state == 0) {
    cache.count = 0;  // the first use constructs it
    cache_state = 1;
  }
  return cache_state == 1 ? &cache : nullptr;
}

}  // namespace

void* node::operator new(std::size_t size) {
  if (size == sizeof(node) && cache_state == 1 && cache.free != nullptr) {
    node_cache::block* b = cache.free;
    cache.free = b->next;
    --cache.count;
    return b;
  }
  return ::operator new(size);
}

void* node::operator new(std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return node::operator new(size);
  } catch (...) {
    return nullptr;
  }
}

void node::operator delete(void* p, std::size_t size) noexcept {
  if (size == sizeof(node) && kCachedNodes > 0) {
    node_cache* c = this_thread_cache();
    if (c != nullptr && c->count < kCachedNodes) {
      auto* b = static_cast<node_cache::block*>(p);
      b->next = c->free;
      c->free = b;
      ++c->count;
      return;
    }
  }
  ::operator delete(p);
}

namespace {

struct background_root final : node {
  background_root() noexcept : node(kind::background, nullptr) {}
};

}  // namespace

node::deadline_timer::deadline_timer(node* n) noexcept
    : timer_entry(&node_access::fire_deadline), owner(n) {}

node::node(kind k, node* parent) noexcept : parent_(parent), kind_(k) {
  if (parent_ != nullptr && k != kind::detached) {
    deadline_ = parent_->deadline_;
    can_end_ = parent_->can_end_;
  }
  if (k == kind::cancel) can_end_ = true;
}

node::~node() = default;

void node::attach() noexcept {
  if (parent_ == nullptr || !parent_->can_end_ || kind_ == kind::detached) {
    return;
  }
  {
    std::lock_guard lock(parent_->lock_);
    if (!parent_->done()) {
      node_access::link(parent_, this);
      return;
    }
  }
  cancel_node(this, parent_->err_, parent_->cause_);
}

bool node::try_ref() noexcept {
  std::uint32_t count = refs_.load(std::memory_order_relaxed);
  while (count != 0) {
    if (refs_.compare_exchange_weak(count, count + 1, std::memory_order_acquire,
                                    std::memory_order_relaxed)) {
      return true;
    }
  }
  return false;
}

void node::wait() const noexcept { state_.wait(0, std::memory_order_acquire); }

// destroy walks up the chain iteratively, so that dropping the last handle
// of a 10^6-deep chain uses constant stack.
void node::destroy(node* n) noexcept {
  while (n != nullptr) {
    node* parent = n->parent_;
    node_access::unlink_from_parent(n);
    delete n;
    if (parent == nullptr || parent->kind_ == kind::background) return;
    if (parent->refs_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    n = parent;
  }
}

node* background_node() noexcept {
  static background_root root;
  return &root;
}

node* make_cancel_node(node* parent, time_point deadline,
                       std::exception_ptr deadline_cause) {
  parent->ref();
  node* n = new (std::nothrow) node(node::kind::cancel, parent);
  if (n == nullptr) {
    parent->unref();
    throw std::bad_alloc();
  }
  const bool own_deadline = deadline < n->deadline_;
  if (own_deadline) {
    n->deadline_ = deadline;
    n->deadline_cause_ = std::move(deadline_cause);
  }
  n->attach();
  if (!own_deadline) return n;
  if (deadline <= std::chrono::steady_clock::now()) {
    cancel_node(n, errc::deadline_exceeded, n->deadline_cause_);
    return n;
  }
  // Scheduled under lock_ and only while live, so that finish(), which runs
  // after the node is marked done, always sees timer_scheduled_.
  std::exception_ptr failure;
  {
    std::lock_guard lock(n->lock_);
    if (!n->done()) {
      n->refs_.fetch_add(1, std::memory_order_relaxed);
      n->timer_scheduled_ = true;
      try {
        timer_service::instance().schedule(n->timer_, deadline);
      } catch (...) {  // out of memory, or no timer thread
        n->timer_scheduled_ = false;
        n->refs_.fetch_sub(1, std::memory_order_relaxed);  // ours remains
        failure = std::current_exception();
      }
    }
  }
  if (failure != nullptr) {
    n->unref();  // unlinks it from the parent
    std::rethrow_exception(failure);
  }
  return n;
}

node* make_detached_node(node* parent) {
  parent->ref();
  node* n = new (std::nothrow) node(node::kind::detached, parent);
  if (n == nullptr) {
    parent->unref();
    throw std::bad_alloc();
  }
  return n;
}

void cancel_node(node* n, errc e, std::exception_ptr cause) noexcept {
  // A null cause stays null: node::cause() supplies the default.
  if (cause == nullptr && e == errc::deadline_exceeded) {
    cause = n->deadline_cause_;
  }
  node* work = nullptr;
  if (!node_access::mark_done(n, e, cause, work)) return;
  node_access::unlink_from_parent(n);
  // Mark the whole subtree first, so that work under every descendant sees
  // done() before any callback (which may be slow) runs.
  node* marked = nullptr;
  while (work != nullptr) {
    node* child = work;
    work = child->work_next_;
    if (node_access::mark_done(child, e, cause, work)) {
      child->work_next_ = marked;
      marked = child;
    } else {
      child->unref();
    }
  }
  node_access::finish(n);
  while (marked != nullptr) {
    node* child = marked;
    marked = child->work_next_;
    node_access::finish(child);
    child->unref();
  }
}

bool register_callback(node* n, callback_node* cb) noexcept {
  std::lock_guard lock(n->lock_);
  if (n->done()) return false;
  cb->prev = n->last_callback_;
  cb->next = nullptr;
  if (n->last_callback_ != nullptr) {
    n->last_callback_->next = cb;
  } else {
    n->first_callback_ = cb;
  }
  n->last_callback_ = cb;
  cb->queued = true;
  n->had_callbacks_ = true;
  return true;
}

bool deregister_callback(node* n, callback_node* cb) noexcept {
  std::unique_lock lock(n->lock_);
  if (cb->queued) {
    (cb->prev != nullptr ? cb->prev->next : n->first_callback_) = cb->next;
    (cb->next != nullptr ? cb->next->prev : n->last_callback_) = cb->prev;
    cb->prev = cb->next = nullptr;
    cb->queued = false;
    return true;
  }
  const std::thread::id self = std::this_thread::get_id();
  while (n->running_callback_ == cb && n->running_thread_ != self) {
    const std::uint32_t seen =
        n->callbacks_finished_.load(std::memory_order_acquire);
    lock.unlock();
    n->callbacks_finished_.wait(seen, std::memory_order_acquire);
    lock.lock();
  }
  return false;
}

std::size_t live_child_count(node* n) noexcept {
  std::lock_guard lock(n->lock_);
  std::size_t count = 0;
  for (node* c = n->first_child_; c != nullptr; c = c->next_sibling_) ++count;
  return count;
}

const std::exception_ptr& default_cause(errc e) noexcept {
  static const std::exception_ptr canceled =
      std::make_exception_ptr(canceled_error());
  static const std::exception_ptr deadline_exceeded =
      std::make_exception_ptr(deadline_exceeded_error());
  return e == errc::deadline_exceeded ? deadline_exceeded : canceled;
}

}  // namespace tbbx::detail
