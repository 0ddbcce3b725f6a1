// SPDX-License-Identifier: Apache-2.0
#include "tbbx/context/detail/tree.h"

#include <mutex>
#include <utility>

namespace tbbx::detail {

const std::exception_ptr& default_cause(errc e) noexcept {
  // Leaked on purpose: a deadline may fire, or a cancel run, during static
  // destruction.
  static const std::exception_ptr* const canceled =
      new std::exception_ptr(std::make_exception_ptr(canceled_error()));
  static const std::exception_ptr* const deadline_exceeded =
      new std::exception_ptr(
          std::make_exception_ptr(deadline_exceeded_error()));
  return e == errc::deadline_exceeded ? *deadline_exceeded : *canceled;
}

bool tree_node::wait_until(time_point until) const noexcept {
  for (;;) {
    std::uint32_t s = state_.load(std::memory_order_acquire);
    if ((s & kDone) != 0) return true;
    if ((s & kWaiters) == 0) {
      // kWaiters is set under lock_, like kDone, so that marking a node
      // done is a plain store (see mark_locked).
      std::lock_guard lock(lock_);
      s = state_.load(std::memory_order_relaxed);
      if ((s & kDone) != 0) return true;
      s |= kWaiters;
      state_.store(s, std::memory_order_relaxed);
    }
    if (!futex_wait(state_, s, until)) return done();
  }
}

bool tree::link(tree_node* parent, tree_node* child) noexcept {
  std::lock_guard lock(parent->lock_);
  if (parent->done()) return false;
  parent->children_.push_front(child);
  return true;
}

void tree::unlink_locked(tree_node* parent, tree_node* child) noexcept {
  // Once unlinked, a node is never linked again.
  if (decltype(parent->children_)::linked(child)) {
    parent->children_.remove(child);
  }
}

void tree::unlink(tree_node* parent, tree_node* child) noexcept {
  std::lock_guard lock(parent->lock_);
  unlink_locked(parent, child);
}

void tree::adopt(tree_node* parent, tree_node* child) noexcept {
  // The parent is done and its subtree complete (link() saw it under its
  // lock), so its end is fixed.
  std::lock_guard lock(child->lock_);
  if (!child->done()) mark_locked(child, parent->err(), parent->cause_);
}

void tree::mark_locked(tree_node* n, errc e,
                       const std::exception_ptr& cause) noexcept {
  n->err_ = static_cast<std::uint8_t>(e);
  n->cause_ = cause;
  // Both bits of state_ change only under n's lock, which we hold: a store,
  // not a read-modify-write, on the path every canceled node takes.
  n->state_.store(n->state_.load(std::memory_order_relaxed) | tree_node::kDone,
                  std::memory_order_release);
}

void tree::wake_waiters(tree_node* n) noexcept {
  if ((n->state_.load(std::memory_order_relaxed) & tree_node::kWaiters) != 0) {
    futex_wake_all(n->state_);
  }
}

bool tree::cancel(tree_node* top, errc e, std::exception_ptr cause) noexcept {
  TBBX_CHAOS_POINT();
  top->lock_.lock();
  if (top->done()) {
    // We hold its lock, so whoever marked it has completed its subtree.
    top->lock_.unlock();
    return false;
  }
  mark_locked(top, e, cause);

  // Depth-first, keeping locked every node on the path (linked through
  // work_next_; `top` at the bottom). A node is unlocked, and its waiters
  // woken, when its subtree is complete; it then joins `completed`.
  tree_node* path = top;
  top->work_next_ = nullptr;
  tree_node* completed = nullptr;
  while (path != nullptr) {
    tree_node* n = path;
    // n is locked and done: nobody links to or unlinks from it until the
    // walk has emptied it and unlocks it.
    tree_node* child = n->children_.pop_front_draining();
    if (child == nullptr) {
      path = n->work_next_;
      // Most nodes of a big tree have nothing to finish: let them go now,
      // while they are in cache, rather than in a second random walk.
      const bool released = n != top && n->release_early_locked();
      n->lock_.unlock();
      wake_waiters(n);
      if (!released) {
        n->work_next_ = completed;
        completed = n;
      }
      continue;
    }
    // A child whose pin fails is being destroyed; its destroyer waits for
    // n's lock and then finds it unlinked.
    if (!child->try_pin()) continue;
    TBBX_CHAOS_POINT();
    child->lock_.lock();  // waits if another cancel is completing it
    child->forget_tree_parent_locked();
    if (child->done()) {
      child->lock_.unlock();
      child->unpin();
      continue;
    }
    mark_locked(child, e, cause);
    child->work_next_ = path;
    path = child;
  }

  // The subtree is complete: leave the parent, then run the finishers
  // with no lock held, top first.
  top->leave_tree_parent();
  while (completed != nullptr) {
    tree_node* n = completed;
    completed = n->work_next_;
    n->finish();
    if (n != top) n->unpin();
  }
  return true;
}

void tree::leave_parent(tree_node* child, tree_node*& parent_field) noexcept {
  tree_node* parent;
  {
    std::lock_guard lock(child->lock_);
    parent = std::exchange(parent_field, nullptr);
    if (parent == nullptr) return;
    // While the field was set under child's lock, the parent has not
    // passed us in a cancel, so it is alive. Its lock comes before ours:
    // only try it. Usually it is free, and unlinking right here saves
    // pinning the parent, whose counter its other children share.
    if (parent->lock_.try_lock()) {
      unlink_locked(parent, child);
      parent->lock_.unlock();
      return;
    }
    if (!parent->try_pin()) return;
  }
  unlink(parent, child);
  parent->unpin();
}

bool tree::has_ancestor(tree_node* n, const tree_node* target) noexcept {
  tree_node* at = n;
  bool pinned = false;  // `at` is pinned by us (not the caller's `n`)
  while (at != nullptr) {
    if (at == target) {
      if (pinned) at->unpin();
      return true;
    }
    tree_node* up;
    {
      std::lock_guard lock(at->lock_);
      up = at->walk_parent_locked();
      if (up != nullptr && !up->try_pin()) up = nullptr;
    }
    if (pinned) at->unpin();
    at = up;
    pinned = true;
  }
  return false;
}

std::size_t tree::live_children(tree_node* n) noexcept {
  std::lock_guard lock(n->lock_);
  std::size_t count = 0;
  for (tree_node* c = n->children_.front(); c != nullptr;
       c = decltype(n->children_)::next(c)) {
    ++count;
  }
  return count;
}

}  // namespace tbbx::detail
