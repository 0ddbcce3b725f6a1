// lazy_source: a context whose node is created only when a handle needs
// one. Internal.
//
// An error_group's context is one. Its tasks, this_task::get_context() and
// nested groups see it through a tagged handle (the low bit of the
// context's word set) that costs no allocation: done(), err(), cause(),
// value() and deadline() read the source directly. Copying the handle,
// registering a callback or deriving a child context needs a real node:
// materialize() creates it once, as a child of the parent's node, and from
// then on the owner cancels both together.
#ifndef TBBX_CONTEXT_DETAIL_LAZY_SOURCE_H_
#define TBBX_CONTEXT_DETAIL_LAZY_SOURCE_H_

#include <atomic>
#include <cstdint>
#include <exception>

#include "tbbx/context/detail/node.h"

namespace tbbx::detail {

class lazy_source {
 public:
  bool done() const noexcept {
    return state_.load(std::memory_order_acquire) != 0;
  }
  // err and cause are meaningful once done() has returned true.
  errc err() const noexcept { return err_; }
  const std::exception_ptr& cause() const noexcept {
    return cause_ != nullptr ? cause_ : default_cause(err_);
  }
  void wait() const noexcept { state_.wait(0, std::memory_order_acquire); }

  // materialize returns the source's node, creating it on the first call
  // (thread-safe). The source owns it; a handle takes its own reference.
  virtual node* materialize() const noexcept = 0;
  // values_node is where value() and deadline() look: the nearest node up
  // the chain. It lives as long as the source.
  virtual const node* values_node() const noexcept = 0;
  // materialized is the node if it exists, else null.
  node* materialized() const noexcept {
    return node_.load(std::memory_order_acquire);
  }

 protected:
  lazy_source() = default;
  ~lazy_source() = default;
  lazy_source(const lazy_source&) = delete;
  lazy_source& operator=(const lazy_source&) = delete;

  // The owner writes err_ and cause_ (null: the default for err_), then
  // state_ with release, then notifies.
  std::atomic<std::uint32_t> state_{0};
  errc err_{};
  std::exception_ptr cause_;
  mutable std::atomic<node*> node_{nullptr};  // set once by materialize()
};

}  // namespace tbbx::detail

#endif  // TBBX_CONTEXT_DETAIL_LAZY_SOURCE_H_
