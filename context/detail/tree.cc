// SPDX-License-Identifier: Apache-2.0
#include "tbbx/context/detail/tree.h"

#include <cstddef>
#include <cstdint>
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

void tree::unlock_completed(tree_node* n) noexcept {
  const bool waiters =
      (n->state_.load(std::memory_order_relaxed) & tree_node::kWaiters) != 0;
  n->lock_.unlock();
  if (waiters) futex_wake_all(n->state_);
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

namespace {

// prefetch_node asks for the cache lines that a cancel walk touches next
// in `n` (its lock, hooks and reference count span two lines), for
// writing.
inline void prefetch_node(const tree_node* n) noexcept {
  if (n == nullptr) return;
  __builtin_prefetch(n, 1);
  __builtin_prefetch(reinterpret_cast<const char*>(n) + 64, 1);
}

}  // namespace

// cancel_walk marks and completes the subtree below `top` (locked and
// marked by the caller) and collects the nodes left to finish.
//
// It starts as one depth-first cursor. Once it has marked kAlone nodes and
// is about to go below a node that has more children, it turns into
// several cursors, one step each in turn: a step takes one child of the
// cursor's node (locks, marks and prefetches it) or, when none is left,
// moves the cursor up. A node counts its children being walked
// (walk_active_); when its cursor finds no child left to take while some
// are still walked, it leaves the node to them (kLeft) and the last one to
// complete completes it. An idle cursor takes a child of the oldest node
// that still has some (the open list), which is where the big subtrees
// hang. Everything stays on the canceling thread: the cursors only overlap
// the cache misses of nodes scattered in memory, and a chain or a node of
// leaves, where there is nothing to overlap, stays with the one cursor.
//
// walk_active_ and walk_flags_ are zero from construction, and a node is
// walked once in its life (the walk skips done nodes).
struct tree::cancel_walk {
#if defined(TBBX_CHAOS) && TBBX_CHAOS
  // Small, so that the stress suite's trees of a few hundred nodes go
  // through every path: many cursors, a full open list, left nodes.
  static constexpr int kCursors = 4;
  static constexpr unsigned kOpen = 4;
  static constexpr std::size_t kAlone = 2;
#else
  // About as many misses in flight as a core keeps; 32 cursors measured
  // no faster than 16.
  static constexpr int kCursors = 16;
  static constexpr unsigned kOpen = 64;
  // One cursor walks alone until this many nodes are marked, so that the
  // usual small cancel does not pay for the others.
  static constexpr std::size_t kAlone = 32;
#endif

  static constexpr std::uint8_t kOffered = 1;    // in the open list
  static constexpr std::uint8_t kLeft = 2;       // its cursor moved past it
  static constexpr std::uint8_t kCompleted = 4;  // subtree complete, unlocked

  struct cursor {
    tree_node* at;    // locked and marked
    tree_node* root;  // where it began: its walk parent is not on its path
  };

  cancel_walk(tree_node* t, errc err, const std::exception_ptr& c) noexcept
      : top(t), e(err), cause(c) {}

  // run walks the subtree and returns the nodes to finish, top first.
  tree_node* run() noexcept {
    top->work_next_ = nullptr;
    tree_node* path = top;
    while (path != nullptr) {
      tree_node* const n = path;
      tree_node* const child = n->children_.pop_front_draining();
      if (child == nullptr) {
        path = n->work_next_;
        complete(n);
        continue;
      }
      if (!enter(n, child)) continue;
      path = child;
      if (marked >= kAlone && !n->children_.empty() &&
          !child->children_.empty()) {
        run_cursors(child);
        break;
      }
    }
    return completed;
  }

 private:
  // run_cursors goes on from `at` (just entered) with several cursors.
  void run_cursors(tree_node* at) noexcept {
    // Each node on the path above `at` has one child being walked.
    for (tree_node* x = at->work_next_; x != nullptr; x = x->work_next_) {
      x->walk_active_ = 1;
    }
    offer(at->work_next_);
    cursors[0] = {at, top};
    live_ = 1;
    while (live_ > 0) {
      for (int i = 0; i < live_;) {
        if (step(cursors[i])) {
          ++i;
        } else {
          cursors[i] = cursors[--live_];
        }
      }
      while (live_ < kCursors && open_head != open_tail &&
             take_open(cursors[live_])) {
        ++live_;
      }
    }
  }

  // step moves cursor `c` on by one node; false when it has nothing left.
  bool step(cursor& c) noexcept {
    tree_node* const n = c.at;
    if (tree_node* child = n->children_.pop_front_draining()) {
      if (enter_among_cursors(n, child)) {
        // The cursor goes below n for a while only if the child has
        // children: only then may others take n's next ones meanwhile.
        if (!child->children_.empty()) offer(n);
        c.at = child;
      }
      return true;
    }
    if (n->walk_active_ != 0) {
      n->walk_flags_ |= kLeft;
      if (n == c.root) return false;
      c.at = n->work_next_;
      return true;
    }
    const bool on_path = n != c.root;
    tree_node* const parent = complete_child(n);
    if (parent == nullptr) return false;
    if (on_path) {
      c.at = parent;
      return true;
    }
    // The parent is on another cursor's path, or was left by it.
    complete_left(parent);
    return false;
  }

  // enter pins, locks and marks `child` of `n`; false if it is dying or
  // done already (it then has nothing to walk).
  bool enter(tree_node* n, tree_node* child) noexcept {
    // A child whose pin fails is being destroyed; its destroyer waits for
    // n's lock and then finds it unlinked.
    if (!child->try_pin()) return false;
    TBBX_CHAOS_POINT();
    child->lock_.lock();  // waits if another cancel is completing it
    child->forget_tree_parent_locked();
    if (child->done()) {
      child->lock_.unlock();
      child->unpin();
      return false;
    }
    mark_locked(child, e, cause);
    child->work_next_ = n;
    ++marked;
    return true;
  }

  bool enter_among_cursors(tree_node* n, tree_node* child) noexcept {
    if (!enter(n, child)) return false;
    ++n->walk_active_;
    // What this cursor touches next: the child's first child, or on the
    // way back the child's next sibling. (A lone cursor needs them at
    // once, with nothing to overlap: it does not prefetch.)
    prefetch_node(child->children_.front());
    prefetch_node(n->children_.front());
    return true;
  }

  // offer lists `n` for idle cursors if it has children left to take.
  void offer(tree_node* n) noexcept {
    if ((n->walk_flags_ & kOffered) != 0 || n->children_.empty() ||
        open_tail - open_head == kOpen) {
      return;
    }
    n->walk_flags_ |= kOffered;
    open_[open_tail++ % kOpen] = n;
  }

  // take_open starts cursor `c` on a child of the oldest open node.
  bool take_open(cursor& c) noexcept {
    while (open_head != open_tail) {
      tree_node* n = open_[open_head % kOpen];
      // An offered node stays pinned until the walk ends (see complete),
      // so a completed one may still be looked at here.
      if ((n->walk_flags_ & kCompleted) != 0 || n->children_.empty()) {
        ++open_head;
        continue;
      }
      tree_node* child = n->children_.pop_front_draining();
      if (enter_among_cursors(n, child)) {
        c = {child, child};
        return true;
      }
    }
    return false;
  }

  // complete_left completes `n` and the ancestors after it while each was
  // left by its cursor and has no child walked any more.
  void complete_left(tree_node* n) noexcept {
    while (n != nullptr && (n->walk_flags_ & kLeft) != 0 &&
           n->walk_active_ == 0) {
      n = complete_child(n);
    }
  }

  // complete_child completes `n` (nothing of it left to walk) and returns
  // its walk parent, with one child fewer being walked; null for top.
  tree_node* complete_child(tree_node* n) noexcept {
    tree_node* const parent = n->work_next_;  // before complete() reuses it
    complete(n);
    if (n == top) return nullptr;
    --parent->walk_active_;
    return parent;
  }

  // complete unlocks `n`, whose subtree is complete, and wakes its
  // waiters.
  void complete(tree_node* n) noexcept {
    const bool waiters =
        (n->state_.load(std::memory_order_relaxed) & tree_node::kWaiters) != 0;
    const std::uint8_t flags = n->walk_flags_;
    // Most nodes of a big tree have nothing to finish: let them go now,
    // while they are in cache, rather than in a second random walk. Not
    // one that is touched after its unlock: by its waiters' wake-up, or
    // by take_open.
    const bool released = n != top && !waiters && (flags & kOffered) == 0 &&
                          n->release_early_locked();
    if ((flags & kOffered) != 0) n->walk_flags_ = flags | kCompleted;
    unlock_completed(n);
    if (!released) {
      n->work_next_ = completed;
      completed = n;
    }
  }

  tree_node* const top;
  const errc e;
  const std::exception_ptr& cause;
  tree_node* completed = nullptr;
  std::size_t marked = 0;
  int live_ = 0;  // cursors[0, live_) are walking
  cursor cursors[kCursors];
  tree_node* open_[kOpen];
  unsigned open_head = 0;
  unsigned open_tail = 0;
};

bool tree::cancel(tree_node* top, errc e, std::exception_ptr cause) noexcept {
  TBBX_CHAOS_POINT();
  top->lock_.lock();
  if (top->done()) {
    // We hold its lock, so whoever marked it has completed its subtree.
    top->lock_.unlock();
    return false;
  }
  mark_locked(top, e, cause);
  if (top->children_.empty()) {
    // A leaf, as a group ending at wait() usually is: no walk to set up.
    unlock_completed(top);
    top->leave_tree_parent();
    top->finish();
    return true;
  }
  tree_node* completed = cancel_walk(top, e, cause).run();

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

tree_node* tree::leave_parent_locked(tree_node* child,
                                     tree_node*& parent_field) noexcept {
  tree_node* const parent = std::exchange(parent_field, nullptr);
  if (parent == nullptr) return nullptr;
  // While the field was set under child's lock, the parent has not
  // passed us in a cancel, so it is alive. Its lock comes before ours:
  // only try it. Usually it is free, and unlinking right here saves
  // pinning the parent, whose counter its other children share.
  if (parent->lock_.try_lock()) {
    unlink_locked(parent, child);
    parent->lock_.unlock();
    return nullptr;
  }
  return parent->try_pin() ? parent : nullptr;
}

void tree::finish_leaving(tree_node* child, tree_node* pinned_parent) noexcept {
  if (pinned_parent == nullptr) return;
  unlink(pinned_parent, child);
  pinned_parent->unpin();
}

void tree::leave_parent(tree_node* child, tree_node*& parent_field) noexcept {
  child->lock_.lock();
  tree_node* const pinned = leave_parent_locked(child, parent_field);
  child->lock_.unlock();
  finish_leaving(child, pinned);
}

void tree::cancel_and_leave(tree_node* n, tree_node*& parent_field, errc e,
                            const std::exception_ptr& cause) noexcept {
  TBBX_CHAOS_POINT();
  n->lock_.lock();
  // A done node's subtree is complete (we hold its lock) and has no
  // children left; a live one with children needs the walk.
  const bool ends = !n->done();
  if (ends && !n->children_.empty()) {
    n->lock_.unlock();
    cancel(n, e, cause);
    leave_parent(n, parent_field);
    return;
  }
  if (ends) mark_locked(n, e, cause);
  tree_node* const pinned = leave_parent_locked(n, parent_field);
  unlock_completed(n);
  finish_leaving(n, pinned);
  if (ends) {
    n->leave_tree_parent();
    n->finish();
  }
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
