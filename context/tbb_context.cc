#include "tbbx/context/tbb_context.h"

#include <oneapi/tbb/task.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <mutex>
#include <vector>

namespace tbbx {

using detail::context_access;

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

constinit thread_local std::uintptr_t current_ambient = 0;

const context& ambient_context_slow(std::uintptr_t ambient) noexcept {
  if ((ambient & source_tag) != 0) {
    return reinterpret_cast<const context_source*>(ambient & ~source_tag)
        ->ambient_context();
  }
  return context_of_native_task();
}

namespace {

struct pipeline_entry {
  const tbb::task_group_context* native;
  const context* ctx;
};

// Only tbbx::parallel_pipeline registers here (one entry per running
// pipeline), and only code that asks this_task::get_context() outside a
// wrapped body looks, so a plain mutex is enough.
std::mutex registry_mu;
std::vector<pipeline_entry>& registry() {  // guarded by registry_mu
  static std::vector<pipeline_entry>* const entries =
      new std::vector<pipeline_entry>();
  return *entries;
}

}  // namespace

const context& context_of_native_task() noexcept {
  static const context root;
  // current_context() would create oneTBB thread data on a thread that has
  // none; a thread outside every arena runs no pipeline filter anyway.
  if (tbb::this_task_arena::current_thread_index() ==
      tbb::task_arena::not_initialized) {
    return root;
  }
  const tbb::task_group_context* native = tbb::task::current_context();
  if (native == nullptr) return root;
  std::lock_guard lock(registry_mu);
  for (const pipeline_entry& e : registry()) {
    if (e.native == native) return *e.ctx;
  }
  return root;
}

pipeline_registration::pipeline_registration(tbb_context& bound)
    : bound_(bound) {
  std::lock_guard lock(registry_mu);
  registry().push_back({&bound_.native(), &bound_.get_context()});
}

pipeline_registration::~pipeline_registration() {
  std::lock_guard lock(registry_mu);
  auto& entries = registry();
  entries.erase(std::find_if(
      entries.begin(), entries.end(),
      [&](const pipeline_entry& e) { return e.native == &bound_.native(); }));
}

}  // namespace detail
}  // namespace tbbx
