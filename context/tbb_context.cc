// SPDX-License-Identifier: Apache-2.0
#include "tbbx/context/tbb_context.h"

#include <oneapi/tbb/task.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <mutex>
#include <vector>

#include "tbbx/context/detail/pi_lock.h"

namespace tbbx {

using detail::context_access;

// Not timer-safe: cancel_group_execution takes oneTBB's own locks. For a
// context ended by its deadline it runs on the deferred runner.
tbb_context::canceler::canceler(tbb_context* o) noexcept
    : callback_node([](callback_node* cb) noexcept {
        static_cast<canceler*>(cb)->owner->native_.cancel_group_execution();
      }),
      owner(o) {}

tbb_context::tbb_context(const context& ctx) : ctx_(ctx) {
  detail::node* n = context_access::get(ctx_);
  if (!n->can_end()) return;
  registered_ = detail::register_callback(n, &canceler_);
  if (!registered_) native_.cancel_group_execution();  // done already
}

tbb_context::~tbb_context() {
  if (registered_) {
    detail::deregister_callback(context_access::get(ctx_), &canceler_);
  }
}

namespace detail {

namespace {

struct pipeline_entry {
  const tbb::task_group_context* native;
  const context* ctx;
};

// Only tbbx::parallel_pipeline registers here (one entry per running
// pipeline), and get_context() looks only while one runs.
pi_lock registry_lock;
std::vector<pipeline_entry>& registry() {  // guarded by registry_lock
  static std::vector<pipeline_entry>* const entries =
      new std::vector<pipeline_entry>();
  return *entries;
}

// pipeline_of returns the context of the pipeline whose filter runs on this
// thread, or null.
const context* pipeline_of() noexcept {
  // current_context() would create oneTBB thread data on a thread that has
  // none; a thread outside every arena runs no pipeline filter anyway.
  if (tbb::this_task_arena::current_thread_index() ==
      tbb::task_arena::not_initialized) {
    return nullptr;
  }
  const tbb::task_group_context* native = tbb::task::current_context();
  if (native == nullptr) return nullptr;
  std::lock_guard lock(registry_lock);
  for (const pipeline_entry& e : registry()) {
    if (e.native == native) return e.ctx;
  }
  return nullptr;
}

}  // namespace

const context& ambient_context_slow(std::uintptr_t ambient) noexcept {
  static const context root;
  if (running_pipelines.load(std::memory_order_acquire) != 0) {
    if (const context* ctx = pipeline_of()) return *ctx;
  }
  if (ambient != 0) return *reinterpret_cast<const context*>(ambient);
  return root;
}

const context& context_of_native_task() noexcept {
  static const context root;
  const context* ctx = pipeline_of();
  return ctx != nullptr ? *ctx : root;
}

pipeline_registration::pipeline_registration(tbb_context& bound)
    : bound_(bound) {
  {
    std::lock_guard lock(registry_lock);
    registry().push_back({&bound_.native(), &bound_.get_context()});
  }
  running_pipelines.fetch_add(1, std::memory_order_release);
}

pipeline_registration::~pipeline_registration() {
  running_pipelines.fetch_sub(1, std::memory_order_release);
  std::lock_guard lock(registry_lock);
  auto& entries = registry();
  entries.erase(std::find_if(
      entries.begin(), entries.end(),
      [&](const pipeline_entry& e) { return e.native == &bound_.native(); }));
}

}  // namespace detail
}  // namespace tbbx
