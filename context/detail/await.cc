// SPDX-License-Identifier: Apache-2.0
#include "tbbx/context/detail/await.h"

#include <oneapi/tbb/task.h>
#include <oneapi/tbb/task_arena.h>

#include "tbbx/context/detail/ambient.h"
#include "tbbx/context/detail/chaos.h"
#include "tbbx/context/detail/futex.h"

namespace tbbx::detail {

namespace {

// in_tbbx_task: this thread runs a tbbx task or body inside an arena, so
// suspending (rather than blocking) the thread keeps a worker at work.
bool in_tbbx_task() noexcept {
#if __TBB_RESUMABLE_TASKS
  return current_ambient != 0 && tbb::this_task_arena::current_thread_index() !=
                                     tbb::task_arena::not_initialized;
#else
  return false;
#endif
}

}  // namespace

waiter::waiter(bool timed) noexcept : suspends_(!timed && in_tbbx_task()) {}

void waiter::notify() noexcept {
  TBBX_CHAOS_POINT();
  const std::uint32_t old =
      state_.exchange(notified, std::memory_order_acq_rel);
  if (old == sleeping) {
    futex_wake(state_);  // the waiter may be gone already: harmless
  }
#if __TBB_RESUMABLE_TASKS
  else if (old == suspended) {
    // The suspended task cannot run (and free us) before this resume.
    auto point = static_cast<tbb::task::suspend_point>(suspend_point_);
    tbb::task::resume(point);
  }
#endif
}

void waiter::block(time_point until) noexcept {
#if __TBB_RESUMABLE_TASKS
  if (suspends_) {
    tbb::task::suspend([this](tbb::task::suspend_point point) {
      suspend_point_ = point;
      std::uint32_t expected = idle;
      if (!state_.compare_exchange_strong(expected, suspended,
                                          std::memory_order_acq_rel)) {
        tbb::task::resume(point);  // notified meanwhile
      }
    });
    state_.store(idle, std::memory_order_relaxed);
    return;
  }
#endif
  TBBX_CHAOS_POINT();
  std::uint32_t expected = idle;
  if (state_.compare_exchange_strong(expected, sleeping,
                                     std::memory_order_acq_rel)) {
    while (state_.load(std::memory_order_acquire) == sleeping) {
      if (!futex_wait(state_, sleeping, until)) break;  // timed out
    }
  }
  // Consume the notification, or take back `sleeping` after a timeout (a
  // notify racing with the timeout is consumed too: the caller rechecks
  // its predicate before blocking again).
  state_.store(idle, std::memory_order_release);
}

context_watch::wake::wake(waiter& w) noexcept
    : callback_node(
          [](callback_node* cb) noexcept {
            static_cast<wake*>(cb)->target->notify();
          },
          w.timer_safe()),
      target(&w) {}

context_watch::context_watch(const context& ctx, waiter& w) : callback_(w) {
  node* n = context_access::get(ctx);
  if (!n->can_end()) return;
  if (!register_callback(n, &callback_)) {
    w.notify();  // done already
    return;
  }
  n->ref();
  node_ = n;
}

context_watch::~context_watch() {
  if (node_ == nullptr) return;
  deregister_callback(node_, &callback_);
  node_->unref();
}

}  // namespace tbbx::detail
