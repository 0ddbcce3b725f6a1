// SPDX-License-Identifier: Apache-2.0
#include "tbbx/context/callbacks.h"

#include "tbbx/context/detail/default_arena.h"

namespace tbbx {

void callback_registration::reset() noexcept {
  if (node_ == nullptr) return;
  detail::deregister_callback(node_, callback_);
  destroy_(callback_);
  callback_ = nullptr;
  std::exchange(node_, nullptr)->unref();
}

bool after_func_handle::stop() {
  if (state_ == nullptr) return false;
  if (state_->never_runs) {
    // Nothing was registered; only the first stop() kept f from running.
    return !state_->stopped.exchange(true, std::memory_order_acq_rel);
  }
  if (!detail::deregister_callback(detail::context_access::get(state_->ctx),
                                   state_.get())) {
    return false;
  }
  state_->self.reset();  // the context's list no longer refers to it
  return true;
}

namespace detail {

void after_func_state::launch(callback_node* cb) noexcept {
  // Not timer-safe (it calls into oneTBB): on a deadline it runs on the
  // deferred runner. `self` passes from the list to the task.
  auto* state = static_cast<after_func_state*>(cb);
  try {
    enqueue_in(default_arena(), *state, scheduling_context());
  } catch (...) {
    // oneTBB could not take the task: run f here rather than lose it.
    std::shared_ptr<after_func_state> owned = std::move(state->self);
    owned->run();
  }
}

tbb_task* after_func_state::execute(task_execution&) {
  std::shared_ptr<after_func_state> owned = std::move(self);
  owned->run();
  return nullptr;  // `owned` may free this task on return
}

tbb_task* after_func_state::cancel(task_execution& ed) {
  // The scheduling context is never canceled; run anyway.
  return execute(ed);
}

void start_after_func(const std::shared_ptr<after_func_state>& state) {
  node* n = context_access::get(state->ctx);
  if (!n->can_end()) {
    // Go retains nothing here: f can never run, so nothing is queued (a
    // queued state would also keep a without_cancel() node alive forever).
    state->never_runs = true;
    return;
  }
  state->self = state;
  if (!register_callback(n, state.get())) after_func_state::launch(state.get());
}

}  // namespace detail
}  // namespace tbbx
