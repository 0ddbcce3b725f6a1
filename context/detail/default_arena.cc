// SPDX-License-Identifier: Apache-2.0
#include "tbbx/context/detail/default_arena.h"

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_group.h>

#include <algorithm>
#include <new>
#include <thread>

#include "tbbx/context/detail/tbb_adapter.h"

#if defined(__linux__)
#include <sched.h>
#endif

namespace tbbx::detail {

// External linkage keeps the store (and the object reachable for
// LeakSanitizer); nothing else reads it.
tbb::global_control* room_for_workers = nullptr;

int default_concurrency() noexcept {
  // The CPUs this process may run on, as oneTBB counts them. Not
  // tbb::info::default_concurrency(): it loads oneTBB's topology library
  // (tbbbind), which AddressSanitizer refuses to load.
#if defined(__linux__)
  cpu_set_t mask;
  if (sched_getaffinity(0, sizeof(mask), &mask) == 0) {
    return std::max(1, CPU_COUNT(&mask));
  }
#endif
  return std::max(1u, std::thread::hardware_concurrency());
}

tbb::task_arena& default_arena() {
  // Both leaked on purpose (kept reachable from statics): tasks may be
  // enqueued from exit-time callbacks, and the global_control must outlive
  // the arena's workers.
  static tbb::task_arena* const arena = [] {
    const int threads = default_concurrency();
    const std::size_t wanted = static_cast<std::size_t>(threads) + 1;
    if (tbb::global_control::active_value(
            tbb::global_control::max_allowed_parallelism) < wanted) {
      room_for_workers = new tbb::global_control(
          tbb::global_control::max_allowed_parallelism, wanted);
    }
    auto* a = new tbb::task_arena(threads, /*reserved_for_masters=*/0);
    a->initialize();
    return a;
  }();
  return *arena;
}

tbb::task_group_context& scheduling_context() noexcept {
  // Never destroyed, so that tasks made from exit-time code still find it;
  // built in static storage, because noexcept paths (after_func launches)
  // may be the first to ask: no allocation that could fail.
  alignas(tbb::task_group_context) static unsigned char
      storage[sizeof(tbb::task_group_context)];
  static tbb::task_group_context* const context =
      new (storage) tbb::task_group_context(tbb::task_group_context::isolated);
  return *context;
}

}  // namespace tbbx::detail
