#include "tbbx/patterns/detail/group_core.h"

#include <stdexcept>
#include <string>
#include <thread>

#include "tbbx/patterns/multi_error.h"

namespace tbbx::detail {

// group_tree holds the operations on the tree of nested groups, which touch
// several groups' private state; the locking rules live here.
struct group_tree {
  // mark makes `g` done under its lock (the first cancellation wins) and
  // pushes its children, pinned, onto `work`.
  static bool mark(group_core* g, errc e, const std::exception_ptr& cause,
                   group_core*& work) noexcept {
    {
      std::lock_guard lock(g->tree_lock_);
      if (g->state_.load(std::memory_order_relaxed) != 0) return false;
      g->err_ = e;
      g->cause_ = cause;
      // seq_cst pairs with materialize(): one of the two sees the other.
      g->state_.store(1, std::memory_order_seq_cst);
      for (group_core* c = g->first_child_; c != nullptr;
           c = c->next_sibling_) {
        c->pins_.fetch_add(1, std::memory_order_relaxed);
        c->work_next_ = work;
        work = c;
      }
    }
    g->state_.notify_all();
    return true;
  }

  // cancel marks `g` and its subtree done, then cancels g's node if it has
  // one: every materialized descendant's node is in that node's subtree.
  static void cancel(group_core* g, errc e, std::exception_ptr cause) noexcept {
    group_core* work = nullptr;
    if (!mark(g, e, cause, work)) return;
    while (work != nullptr) {
      group_core* child = work;
      work = child->work_next_;
      mark(child, e, cause, work);
      child->pins_.fetch_sub(1, std::memory_order_release);
    }
    if (node* n = g->node_.load(std::memory_order_seq_cst)) {
      cancel_node(n, e, std::move(cause));
    }
  }

  // link makes `child` a child of `parent`, or returns false if `parent` is
  // done already (the child then inherits its end).
  static bool link(group_core* parent, group_core* child) noexcept {
    std::lock_guard lock(parent->tree_lock_);
    if (parent->state_.load(std::memory_order_relaxed) != 0) return false;
    child->parent_group_ = parent;  // child is not yet visible to others
    child->prev_sibling_ = nullptr;
    child->next_sibling_ = parent->first_child_;
    if (parent->first_child_ != nullptr) {
      parent->first_child_->prev_sibling_ = child;
    }
    parent->first_child_ = child;
    child->linked_ = true;
    return true;
  }

  static void unlink_locked(group_core* parent, group_core* child) noexcept {
    if (!child->linked_) return;
    (child->prev_sibling_ != nullptr ? child->prev_sibling_->next_sibling_
                                     : parent->first_child_) =
        child->next_sibling_;
    if (child->next_sibling_ != nullptr) {
      child->next_sibling_->prev_sibling_ = child->prev_sibling_;
    }
    child->prev_sibling_ = child->next_sibling_ = nullptr;
    child->linked_ = false;
  }

  // pin_parent returns g's parent group pinned (or null if g is a root or
  // detached); the pin keeps the parent from finishing its destructor.
  static group_core* pin_parent(group_core* g) noexcept {
    std::lock_guard lock(g->tree_lock_);
    group_core* p = g->parent_group_;
    if (p != nullptr) p->pins_.fetch_add(1, std::memory_order_acquire);
    return p;
  }

  static void leave_parent(group_core* g) noexcept {
    group_core* p = pin_parent(g);
    if (p == nullptr) return;
    {
      std::lock_guard lock(p->tree_lock_);
      unlink_locked(p, g);
    }
    p->pins_.fetch_sub(1, std::memory_order_release);
  }

  // detach_children gives the children still linked to a dying group (ones
  // that outlive the task that made them) the group's node as their parent.
  static void detach_children(group_core* g) noexcept {
    std::vector<group_core*> children;
    {
      std::lock_guard lock(g->tree_lock_);
      for (group_core* c = g->first_child_; c != nullptr;) {
        group_core* next = c->next_sibling_;
        c->pins_.fetch_add(1, std::memory_order_relaxed);
        c->linked_ = false;
        c->prev_sibling_ = c->next_sibling_ = nullptr;
        try {
          children.push_back(c);
        } catch (...) {
          std::terminate();  // cannot leave a child pointing at us
        }
        c = next;
      }
      g->first_child_ = nullptr;
    }
    if (children.empty()) return;
    node* mine = g->materialize();
    for (group_core* c : children) {
      {
        std::lock_guard lock(c->tree_lock_);
        c->parent_group_ = nullptr;
        mine->ref();
        c->detached_parent_node_ = mine;
      }
      c->pins_.fetch_sub(1, std::memory_order_release);
    }
  }
};

namespace {

void check_limit(int n, const char* caller) {
  if (n == 0) {
    throw std::invalid_argument(
        std::string(caller) +
        ": a limit of 0 would admit no task and block go() forever; use a "
        "negative limit for none");
  }
}

// parent_group returns the group whose context `parent` is, or null.
// group_core is the only lazy_source.
group_core* parent_group(const context& parent) noexcept {
  const lazy_source* source = context_access::lazy_of(parent);
  return source == nullptr
             ? nullptr
             : const_cast<group_core*>(static_cast<const group_core*>(source));
}

const context& checked_parent(const context& parent,
                              const group_options& options) {
  check_limit(options.limit, "tbbx::error_group");
  return parent;
}

}  // namespace

group_core::parent_link::parent_link(group_core* g) noexcept
    : callback_node([](callback_node* cb) noexcept {
        group_core* self = static_cast<parent_link*>(cb)->group;
        const node* p = self->root_parent_node_;
        group_tree::cancel(self, p->err(), p->cause());
      }),
      group(g) {}

group_core::group_core(const context& parent, group_options options)
    : parent_(parent_group(checked_parent(parent, options)) != nullptr
                  ? context()
                  : parent),
      root_parent_node_(parent_group(parent) != nullptr
                            ? nullptr
                            : context_access::get(parent_)),
      values_node_(parent_group(parent) != nullptr
                       ? parent_group(parent)->values_node_
                       : root_parent_node_),
      slot_(context_access::lazy(this)),
      cancel_on_error_(options.cancel_on_error),
      arena_(options.arena != nullptr ? &options.arena->native() : nullptr),
      sched_(scheduling_context()),
      limit_(options.limit) {
  if (group_core* p = parent_group(parent)) {
    if (!group_tree::link(p, this)) {
      // The parent is done: this group never links, so it hangs its node
      // (should one be needed) under the parent's, as a detached child does.
      detached_parent_node_ = p->materialize();
      detached_parent_node_->ref();
      group_tree::cancel(this, p->err_, p->cause_);
    }
  } else if (root_parent_node_->can_end()) {
    parent_link_registered_ =
        register_callback(root_parent_node_, &parent_link_);
    if (!parent_link_registered_) {
      group_tree::cancel(this, root_parent_node_->err(),
                         root_parent_node_->cause());
    }
  }
}

group_core::~group_core() {
  if (!waited_.load(std::memory_order_acquire)) {
    // The destructor cancels and waits, so nothing outlives the group.
    group_tree::cancel(this, errc::canceled, nullptr);
    wait_in_arena(pending_);
    finish();
  }
  group_tree::detach_children(this);
  group_tree::leave_parent(this);
  while (pins_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
  if (detached_parent_node_ != nullptr) detached_parent_node_->unref();
  if (node* n = node_.load(std::memory_order_acquire)) n->unref();
}

node* group_core::materialize() const noexcept {
  if (node* n = node_.load(std::memory_order_acquire)) return n;
  auto* self = const_cast<group_core*>(this);
  group_core* pinned = nullptr;
  node* parent_node = root_parent_node_;
  if (parent_node == nullptr) {
    pinned = group_tree::pin_parent(self);
    if (pinned != nullptr) {
      parent_node = pinned->materialize();
    } else {
      std::lock_guard lock(tree_lock_);
      parent_node = detached_parent_node_;
    }
  }
  // A failed allocation here has nowhere to go (handles are noexcept).
  node* n = make_cancel_node(parent_node, no_deadline, nullptr);
  if (pinned != nullptr) pinned->pins_.fetch_sub(1, std::memory_order_release);
  node* expected = nullptr;
  if (!node_.compare_exchange_strong(expected, n, std::memory_order_seq_cst)) {
    n->unref();  // another thread won; ours was never seen
    return expected;
  }
  if (state_.load(std::memory_order_seq_cst) != 0) {
    cancel_node(n, err_, cause_);
  }
  return n;
}

void group_core::record_error(std::exception_ptr e) noexcept {
  try {
    errors_.add(e);
  } catch (...) {
    // Out of memory while recording: the first error below is still kept.
  }
  if (!has_error_.exchange(true, std::memory_order_acq_rel)) {
    first_error_ = e;
    if (cancel_on_error_) group_tree::cancel(this, errc::canceled, e);
  }
}

group_core::admission group_core::admit(bool blocking, const char* caller) {
  if (waited_.load(std::memory_order_relaxed)) {
    throw std::logic_error(std::string(caller) +
                           ": the group was used after wait() returned; a "
                           "group is used once");
  }
  if (stopped()) {
    record_skip();
    return admission::skip;
  }
  const int limit = limit_.load(std::memory_order_relaxed);
  if (limit < 0) {
    // Counted without a limit too, so that set_limit can tell whether
    // admitted tasks have returned.
    active_.fetch_add(1, std::memory_order_relaxed);
    pending_.reserve();
    return admission::spawn;
  }
  if (try_take_slot(limit)) return admission::spawn;
  if (!blocking) return admission::refused;
  // At the limit inside one of our own tasks, waiting could deadlock (all
  // slots may be held by tasks doing the same); running the callable
  // inline keeps the concurrency bound, since this task's slot covers it.
  if (current_source() == this) return admission::run_inline;
  return admission::hand_off;
}

bool group_core::try_take_slot(int limit) noexcept {
  int active = active_.load(std::memory_order_relaxed);
  while (active < limit) {
    if (active_.compare_exchange_weak(active, active + 1,
                                      std::memory_order_seq_cst)) {
      pending_.reserve();
      return true;
    }
  }
  return false;
}

void group_core::hand_off(d1::task& t) {
  const int limit = limit_.load(std::memory_order_relaxed);
  if (try_take_slot(limit)) {
    spawn(t);
    return;
  }
  slot_waiter me(t);
  {
    // A limited group's slots are released under slot_mu_ (see
    // task_finished), so a slot freed before we queue is seen here, and one
    // freed after we queue is handed to us: no wake-up is lost.
    std::lock_guard lock(slot_mu_);
    if (!try_take_slot(limit)) {
      (last_waiter_ != nullptr ? last_waiter_->next : first_waiter_) = &me;
      last_waiter_ = &me;
      me.queued = true;
    }
  }
  if (!me.queued) {
    me.released.release();  // a wait_context must end at zero
    spawn(t);
    return;
  }
  // Runs other tasks (ours included) until a finishing task has spawned
  // `t` and released us: progress even with no worker thread.
  wait_in_arena(me.released);
}

void group_core::task_finished() noexcept {
  if (limit_.load(std::memory_order_relaxed) < 0) {
    active_.fetch_sub(1, std::memory_order_release);
    pending_.release();  // last: the group may be destroyed after this
    return;
  }
  slot_waiter* w;
  {
    std::lock_guard lock(slot_mu_);
    w = first_waiter_;
    if (w != nullptr) {
      first_waiter_ = w->next;
      if (first_waiter_ == nullptr) last_waiter_ = nullptr;
    } else {
      active_.fetch_sub(1, std::memory_order_release);
    }
  }
  if (w != nullptr) {
    // The slot passes straight to the waiter's task, spawned here so this
    // thread runs it next; active_ is unchanged.
    pending_.reserve();
    spawn(*w->task);
    w->released.release();  // its go() returns; `w` may now be gone
  }
  pending_.release();  // last: the group may be destroyed after this
}

void group_core::set_limit(int n) {
  check_limit(n, "tbbx::error_group::set_limit");
  if (active_.load(std::memory_order_acquire) > 0) {
    throw std::logic_error(
        "tbbx::error_group::set_limit: tasks are still running");
  }
  limit_.store(n, std::memory_order_relaxed);
}

void group_core::wait_tasks(const char* caller) {
  if (current_source() == this) {
    throw std::logic_error(std::string(caller) +
                           ": called from one of the group's own tasks, it "
                           "would wait for itself");
  }
  wait_in_arena(pending_);
  finish();
}

void group_core::spawn(d1::task& t) noexcept {
  if (arena_ == nullptr || current_native_arena == arena_) {
    d1::spawn(t, sched_);
  } else {
    tbb::detail::r1::enqueue(t, sched_, arena_);
  }
}

void group_core::wait_in_arena(d1::wait_context& w) {
  if (arena_ == nullptr || current_native_arena == arena_) {
    d1::wait(w, sched_);
    return;
  }
  // Join the group's arena to help; if it has no free slot, a worker runs
  // the wait for us (and helps) while this thread waits for it.
  arena_->execute([&] {
    arena_scope scope(arena_);
    d1::wait(w, sched_);
  });
}

void group_core::finish() noexcept {
  if (waited_.load(std::memory_order_relaxed)) return;
  if (parent_link_registered_) {
    deregister_callback(root_parent_node_, &parent_link_);
    parent_link_registered_ = false;
  }
  // Go's errgroup cancels the derived context when Wait returns, with the
  // first error as the cause.
  group_tree::cancel(this, errc::canceled, first_error_);
  waited_.store(true, std::memory_order_release);
}

void group_core::throw_if_skipped() const {
  // Tasks are skipped only once the group is done before they start, which
  // wait()'s own cancel never is; so this is the first cancellation's cause.
  if (skipped() != 0) std::rethrow_exception(cause());
}

void group_core::wait() {
  wait_tasks("tbbx::error_group::wait");
  if (first_error_ != nullptr) std::rethrow_exception(first_error_);
  throw_if_skipped();
}

void group_core::wait_all() {
  wait_tasks("tbbx::error_group::wait_all");
  if (auto joined = errors_.join()) std::rethrow_exception(joined);
  throw_if_skipped();
}

}  // namespace tbbx::detail
