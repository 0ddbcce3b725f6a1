// SPDX-License-Identifier: Apache-2.0
// The cancellation tree: what every context and every error_group is a
// node of. Internal; the locking rules of the whole context core live here.
//
// A tree_node is done or not (one atomic word), and once done it holds why
// (err, cause), fixed forever. It knows its live children through an
// intrusive list guarded by its own lock, so that ending it reaches the
// whole subtree without a thread per child. Contexts (node.h) and
// error_group's groups are both tree nodes, so a group nested under a
// context, a context derived from a group and a group nested under a
// group are one tree, canceled by one algorithm.
//
// Canceling (tree::cancel) is a depth-first walk that keeps locked every
// node on the path from the top to where it is, and unlocks a node only
// when its whole subtree is marked. So "the subtree of X is complete" is
// the same as "X's lock is free and X is done": a second canceler that
// reaches a node being canceled by someone else simply takes its lock,
// which it gets once that subtree is complete. Hence the rule that cancel
// is complete when it returns: every descendant is done, including those
// a concurrent cancel of an inner node was still marking. The walk keeps
// its path in the nodes themselves (bounded stack at any depth) and
// allocates nothing.
//
// A big subtree is walked by several cursors at once, on the one
// canceling thread, one step each in turn (cancel_walk in tree.cc): a
// node whose memory is not in cache costs a DRAM miss, and a single
// depth-first walk of a tree built in random order pays those misses one
// after another, while interleaved cursors overlap them. Each cursor
// keeps the rule above for its own path; a node is completed when no
// child is left to hand out and no cursor is below it.
//
// Lock order: an ancestor's lock before a descendant's, never the reverse.
// No lock is held while user code runs: callbacks and the other kind
// hooks run after the walk (finish). All locks are pi_locks, so the
// real-time timer thread that cancels at a deadline never spins and never
// waits behind a preempted thread without lending it its priority.
//
// Lifetimes: the walk pins each child it takes (try_pin: a node takes a
// reference, a group counts the pin and waits for it before it dies) and a
// child whose pin fails is already dying; its destroyer waits for the
// parent's lock and then finds it unlinked. A child unlinking itself must
// keep its tree parent alive meanwhile (nodes hold a reference on their
// parent; groups pin theirs, see the group's leave_tree_parent).
#ifndef TBBX_CONTEXT_DETAIL_TREE_H_
#define TBBX_CONTEXT_DETAIL_TREE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>

#include "tbbx/context/detail/export.h"
#include "tbbx/context/detail/futex.h"
#include "tbbx/context/detail/intrusive_list.h"
#include "tbbx/context/detail/pi_lock.h"
#include "tbbx/context/errors.h"

namespace tbbx::detail {

class node;

// default_cause returns the shared exception object for `e` (never
// destroyed, so that late cancels during static destruction still work).
TBBX_API const std::exception_ptr& default_cause(errc e) noexcept;

class TBBX_API tree_node {
 public:
  // done is one acquire load. Everything the canceling thread wrote before
  // the cancel is visible to a thread that sees done() return true.
  bool done() const noexcept {
    return (state_.load(std::memory_order_acquire) & kDone) != 0;
  }
  // err and cause are meaningful once done() has returned true. A default
  // cause is not stored per node (copying one shared exception_ptr into
  // every node would make all threads write its reference count).
  errc err() const noexcept { return static_cast<errc>(err_); }
  const std::exception_ptr& cause() const noexcept {
    return cause_ != nullptr ? cause_ : default_cause(err());
  }

  // wait blocks until done(). A node's waiters are woken when its subtree
  // is complete. wait_until returns done(): false only once `until` has
  // passed. No callback is registered: waiting costs the node nothing.
  void wait() const noexcept { (void)wait_until(time_point::max()); }
  bool wait_until(time_point until) const noexcept;

  // materialize returns the context node behind this tree node: the node
  // itself, or for a group the node that handles on its context share
  // (made on first use). values_node is where value() and deadline()
  // look; it lives as long as this tree node.
  // May throw std::bad_alloc (a group's node is allocated on first use).
  virtual node* materialize() = 0;
  virtual const node* values_node() const noexcept = 0;
  // existing_node is the context node if it exists already, else null.
  virtual const node* existing_node() const noexcept = 0;

  // chain_next links a node that is done in a hand-over queue (the
  // deferred runner's); owned by whoever holds it there.
  tree_node*& chain_next() noexcept { return work_next_; }

  tree_node(const tree_node&) = delete;
  tree_node& operator=(const tree_node&) = delete;

 protected:
  tree_node() noexcept = default;
  virtual ~tree_node() = default;

  // Kind hooks, called by the tree algorithms.
  //
  // try_pin keeps this node alive while a canceler works on it; false if
  // it is already dying (then it is skipped). unpin undoes it.
  virtual bool try_pin() noexcept = 0;
  virtual void unpin() noexcept = 0;
  // forget_tree_parent is called, with this node's lock held, when its
  // tree parent unlinked it while canceling: it must not touch the parent
  // again. Nodes, which hold a reference on their parent, need nothing.
  virtual void forget_tree_parent_locked() noexcept {}
  // finish runs once this node's subtree is complete, with no lock held
  // and the node pinned: callbacks, timers.
  virtual void finish() noexcept {}
  // release_early_locked is asked, with this node's lock held, when its
  // subtree is complete: a node with nothing to finish may drop the
  // canceler's pin there and then (returning true), so that the walk does
  // not touch it a second time; it must not drop the last reference (that
  // would free memory with the path's locks held). Default: no.
  virtual bool release_early_locked() noexcept { return false; }
  // leave_tree_parent unlinks this node (the top of a completed cancel)
  // from its tree parent, if it is still linked (a group stays linked
  // until it is destroyed).
  virtual void leave_tree_parent() noexcept = 0;
  // walk_parent_locked is the tree parent for an ancestry walk (with this
  // node's lock held), or null.
  virtual tree_node* walk_parent_locked() noexcept = 0;

  static constexpr std::uint32_t kDone = 1;
  static constexpr std::uint32_t kWaiters = 2;  // someone sleeps on state_

  // kDone, plus kWaiters (set by waiters, hence mutable). Both are set
  // only with lock_ held; read without it.
  mutable std::atomic<std::uint32_t> state_{0};
  mutable pi_lock lock_;
  // Written once under lock_ before state_ gets kDone, then read-only. A
  // null cause_ means the default cause for err_.
  std::uint8_t err_ = 0;
  // For the kinds' own use (they would otherwise pad the object); separate
  // bytes, since each is guarded differently.
  std::uint8_t kind_ = 0;    // set at construction, then read-only
  std::uint8_t traits_ = 0;  // set at construction, then read-only
  std::uint8_t flags_ = 0;   // guarded by lock_
  std::uint8_t dying_ = 0;   // owned by whoever dropped the last reference
  // The cancel walk's bookkeeping (tree::cancel_walk), owned like
  // work_next_ by the one thread canceling the node: its children being
  // walked, and its walk state bits. Set when the walk marks the node.
  std::uint8_t walk_active_ = 0;
  std::uint8_t walk_flags_ = 0;
  std::exception_ptr cause_;

 private:
  friend struct tree;

  list_hook<tree_node> sibling_hook_;  // guarded by the tree parent's lock_
  intrusive_list<tree_node, &tree_node::sibling_hook_, /*Fifo=*/false>
      children_;  // guarded by lock_
  // Owned by the one thread canceling it: the node's parent in the walk
  // while it is walked, then the next node in the walk's completed list.
  tree_node* work_next_ = nullptr;
};

// tree holds the algorithms that touch several tree nodes.
struct tree {
  // link makes `child` a child of `parent` and returns true, or returns
  // false if `parent` is done (its subtree complete): the caller then ends
  // the child with the parent's end (adopt). `child` must not be visible
  // to other threads yet.
  static bool link(tree_node* parent, tree_node* child) noexcept;

  // unlink removes `child` from `parent` if it is still linked. The caller
  // keeps `parent` alive.
  static void unlink(tree_node* parent, tree_node* child) noexcept;

  // adopt ends `child` (never linked) with `parent`'s end.
  static void adopt(tree_node* parent, tree_node* child) noexcept;

  // cancel makes `top` and its whole subtree done with (e, cause) and
  // returns true, or returns false if `top` was done already. Either way,
  // when it returns the subtree of `top` is complete. The caller keeps
  // `top` alive (pinned). Runs every node's finish(), then top's
  // leave_tree_parent().
  static bool cancel(tree_node* top, errc e, std::exception_ptr cause) noexcept;

  // leave_parent is how a node whose tree parent is not held by a
  // reference (a group, a group's shadow node) leaves it: `parent_field`
  // is read and cleared under `child`'s lock, and the child unlinked at
  // once if the parent's lock can be taken without waiting (the usual
  // case), else after pinning the parent and releasing child's lock. The
  // parent's cancel clears the field under the same lock
  // (forget_tree_parent_locked) before it can die.
  static void leave_parent(tree_node* child, tree_node*& parent_field) noexcept;

  // cancel_and_leave is cancel() followed by leave_parent(), with one hold
  // of `n`'s lock when `n` has no children (a group ending at wait()
  // usually has none). Only for a node whose tree parent owes it nothing
  // after it leaves (see the group's values reference).
  static void cancel_and_leave(tree_node* n, tree_node*& parent_field, errc e,
                               const std::exception_ptr& cause) noexcept;

  // has_ancestor tells whether `target` is `n` or above it in the tree,
  // walking up through parents pinned one at a time. `n` must be alive.
  static bool has_ancestor(tree_node* n, const tree_node* target) noexcept;

  // live_children counts `n`'s linked children (tests, diagnostics).
  static std::size_t live_children(tree_node* n) noexcept;

 private:
  struct cancel_walk;

  static void unlink_locked(tree_node* parent, tree_node* child) noexcept;
  // leave_parent_locked clears `parent_field` (child's lock held) and
  // unlinks child if the parent's lock is free; else it returns the
  // parent pinned, for finish_leaving to unlink once child's lock is
  // released.
  static tree_node* leave_parent_locked(tree_node* child,
                                        tree_node*& parent_field) noexcept;
  static void finish_leaving(tree_node* child,
                             tree_node* pinned_parent) noexcept;
  // unlock_completed unlocks `n`, whose subtree is complete, and wakes
  // its waiters.
  static void unlock_completed(tree_node* n) noexcept;
  static void mark_locked(tree_node* n, errc e,
                          const std::exception_ptr& cause) noexcept;
};

}  // namespace tbbx::detail

#endif  // TBBX_CONTEXT_DETAIL_TREE_H_
