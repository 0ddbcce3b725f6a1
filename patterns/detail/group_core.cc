// SPDX-License-Identifier: Apache-2.0
#include "tbbx/patterns/detail/group_core.h"

#include <new>
#include <stdexcept>
#include <string>

#include "tbbx/context/detail/chaos.h"
#include "tbbx/context/multi_error.h"

namespace tbbx::detail {

namespace {

// values_parent_of is the node a group under `parent` looks values up in.
node* values_parent_of(const context& parent, node* root_parent) {
  if (root_parent != nullptr) return values_anchor(root_parent);
  return const_cast<node*>(context_access::tree(parent)->values_node());
}

}  // namespace

group_core::group_core(const context& parent, group_options options)
    : slot_(context_access::lazy(this)),
      cancel_on_error_(options.cancel_on_error),
      arena_(options.arena != nullptr ? &options.arena->native() : nullptr),
      sched_(scheduling_context()),
      root_parent_(context_access::is_lazy(parent)
                       ? nullptr
                       : context_access::get(parent)),
      values_parent_(values_parent_of(parent, root_parent_)),
      leaves_at_end_(root_parent_ != nullptr ||
                     values_parent_->own_kind() == node::kind::background),
      limit_(options.limit) {
  tree_node* parent_tree = context_access::tree(parent);
  if (root_parent_ != nullptr) {
    root_parent_->ref();  // and so, up its chain, values_parent_
    // A context that can never end has no children list to join.
    if (!root_parent_->can_end()) return;
  }
  tree_parent_ = parent_tree;  // not yet visible to other threads
  if (!tree::link(parent_tree, this)) {
    // The parent is done: we end with it, and never rely on it again.
    tree_parent_ = nullptr;
    take_values_ref();
    tree::adopt(parent_tree, this);
  }
}

group_core::~group_core() {
  if (!waited_.load(std::memory_order_acquire)) {
    // The destructor cancels and waits, so nothing outlives the group.
    tree::cancel(this, errc::canceled, nullptr);
    wait_in(arena_, pending_, sched_);
    end_wait();
  }
  if (!leaves_at_end_) tree::leave_parent(this, tree_parent_);
  // Whoever pinned us (an ancestor's cancel, a leaving child, an ancestry
  // walk) is about to unpin; nothing can pin us any more.
  for (int p = pins_.load(std::memory_order_acquire); p != 0;
       p = pins_.load(std::memory_order_acquire)) {
    pins_.wait(p, std::memory_order_acquire);
  }
  if (node* s = shadow_.load(std::memory_order_acquire)) s->unref();
  if (owns_values_ref_) values_parent_->unref();
  if (root_parent_ != nullptr) root_parent_->unref();
}

void group_core::take_values_ref() noexcept {
  // A root group's values node lives as long as its parent, which it
  // holds; a nested group's was borrowed from its parent group.
  if (owns_values_ref_ || root_parent_ != nullptr) return;
  values_parent_->ref();
  owns_values_ref_ = true;
}

void group_core::unpin() noexcept {
  if (pins_.fetch_sub(1, std::memory_order_acq_rel) == 1) pins_.notify_all();
}

void group_core::forget_tree_parent_locked() noexcept {
  // Our parent is ending, and will not be ours any more: if the values
  // node was borrowed from it, take our own reference now.
  tree_parent_ = nullptr;
  take_values_ref();
}

node* group_core::materialize() {
  if (node* s = shadow_.load(std::memory_order_acquire)) return s;
  node* values;
  {
    std::lock_guard lock(lock_);
    values = values_parent_;
  }
  shadow_node* fresh = shadow_node::make(values, this);
  node* expected = nullptr;
  if (!shadow_.compare_exchange_strong(expected, fresh,
                                       std::memory_order_acq_rel)) {
    fresh->unref();  // another thread won; ours was never seen
    return expected;
  }
  return fresh;
}

void group_core::record_error(std::exception_ptr e) noexcept {
  try {
    errors_.add(e);
  } catch (...) {
    // Out of memory while recording: the first error below is still kept,
    // and wait_all() reports the loss rather than a shorter list.
    error_lost_.store(true, std::memory_order_relaxed);
  }
  TBBX_CHAOS_POINT();
  if (!has_error_.exchange(true, std::memory_order_acq_rel)) {
    first_error_ = e;
    if (cancel_on_error_) tree::cancel(this, errc::canceled, e);
  }
}

void group_core::cancel(std::exception_ptr cause) noexcept {
  tree::cancel(this, errc::canceled, std::move(cause));
}

bool group_core::runs_on_behalf_of_this() noexcept {
  const std::uintptr_t ambient = current_ambient;
  if (ambient == 0) return false;
  tree_node* at =
      context_access::tree(*reinterpret_cast<const context*>(ambient));
  return at == this || tree::has_ancestor(at, this);
}

group_core::admission group_core::admit(bool blocking, const char* caller) {
  if (waited_.load(std::memory_order_relaxed)) {
    throw std::logic_error(std::string(caller) +
                           ": the group was used after wait() returned; a "
                           "group is used once");
  }
  TBBX_CHAOS_POINT();
  if (stopped()) {
    record_skip();
    return admission::skip;
  }
  const int limit = limit_.load(std::memory_order_relaxed);
  if (limit < 0) {
    if (active_.fetch_add(1, std::memory_order_acq_rel) == 0) {
      pending_.reserve();
    }
    return admission::spawn;
  }
  if (try_take_slot(limit)) return admission::spawn;
  if (!blocking) return admission::refused;
  if (limit == 0) {
    throw std::logic_error(std::string(caller) +
                           ": the limit is 0, so no task can ever be "
                           "admitted (Go's SetLimit(0): try_go returns "
                           "false); raise the limit first");
  }
  // At the limit inside work done for one of our own tasks (its body, an
  // inner group's task, a tbbx algorithm's body it runs), waiting could
  // deadlock: every slot may be held by tasks waiting for that very work.
  // Running the callable inline keeps the bound, since the task's slot
  // covers what it runs.
  if (runs_on_behalf_of_this()) return admission::run_inline;
  return admission::hand_off;
}

bool group_core::try_take_slot(int limit) noexcept {
  int active = active_.load(std::memory_order_relaxed);
  while (active < limit) {
    if (active_.compare_exchange_weak(active, active + 1,
                                      std::memory_order_seq_cst)) {
      if (active == 0) pending_.reserve();
      return true;
    }
  }
  return false;
}

void group_core::hand_off(tbb_task& t) {
  const int limit = limit_.load(std::memory_order_relaxed);
  if (try_take_slot(limit)) {
    spawn(t);
    return;
  }
  slot_waiter me(t);
  bool queued = false;
  {
    // A limited group's slots are released under slot_mu_ (see
    // task_finished), so a slot freed before we queue is seen here, and one
    // freed after we queue is handed to us: no wake-up is lost.
    std::lock_guard lock(slot_mu_);
    if (!try_take_slot(limit)) {
      slot_waiters_.push_back(&me);
      queued = true;
    }
  }
  if (!queued) {
    me.released.release();  // a wait counter must end at zero
    spawn(t);
    return;
  }
  // Runs other tasks (ours included) until a finishing task has spawned
  // `t` and released us: progress even with no worker thread.
  wait_in(arena_, me.released, sched_);
}

void group_core::task_finished() noexcept {
  // Only the task that takes active_ to zero touches the group afterwards,
  // to release pending_; the group may be destroyed as soon as it has.
  if (limit_.load(std::memory_order_relaxed) < 0) {
    if (active_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      pending_.release();
    }
    return;
  }
  slot_waiter* w;
  bool last = false;
  TBBX_CHAOS_POINT();
  {
    std::lock_guard lock(slot_mu_);
    w = slot_waiters_.pop_front();
    if (w == nullptr) {
      last = active_.fetch_sub(1, std::memory_order_acq_rel) == 1;
    }
  }
  if (w != nullptr) {
    // The slot passes straight to the waiter's task, spawned here so this
    // thread runs it next; active_ is unchanged, so pending_ is still held.
    spawn(*w->task);
    w->released.release();  // its go() returns; `w` may now be gone
    return;
  }
  if (last) pending_.release();
}

void group_core::set_limit(int n) {
  if (active_.load(std::memory_order_acquire) > 0) {
    throw std::logic_error(
        "tbbx::error_group::set_limit: tasks are still running");
  }
  limit_.store(n, std::memory_order_relaxed);
}

void group_core::wait_tasks(const char* caller) {
  if (current_ambient == reinterpret_cast<std::uintptr_t>(&slot_)) {
    throw std::logic_error(std::string(caller) +
                           ": called from one of the group's own tasks, it "
                           "would wait for itself");
  }
  wait_in(arena_, pending_, sched_);
  end_wait();
}

void group_core::end_wait() noexcept {
  if (waited_.load(std::memory_order_relaxed)) return;
  // Go's errgroup cancels the derived context when Wait returns, with the
  // first error as the cause.
  if (leaves_at_end_) {
    tree::cancel_and_leave(this, tree_parent_, errc::canceled, first_error_);
  } else {
    tree::cancel(this, errc::canceled, first_error_);
  }
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
  if (error_lost_.load(std::memory_order_relaxed)) throw std::bad_alloc();
  if (auto joined = errors_.join()) std::rethrow_exception(joined);
  throw_if_skipped();
}

}  // namespace tbbx::detail
