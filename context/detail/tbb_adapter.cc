// SPDX-License-Identifier: Apache-2.0
// The out-of-line half of the adapter: the only other place that names
// oneTBB's private task layer.
#include "tbbx/context/detail/tbb_adapter.h"

#include <oneapi/tbb/version.h>

#include <stdexcept>
#include <string>

#include "tbbx/context/detail/ambient.h"
#include "tbbx/context/detail/thread_role.h"

namespace tbbx::detail {

// The thread_locals that headers declare extern (see there).
constinit thread_local std::uintptr_t current_ambient = 0;
constinit thread_local const tbb::task_arena* current_arena = nullptr;
constinit thread_local thread_role current_thread_role = thread_role::other;
constinit std::atomic<int> running_pipelines{0};

namespace {

// arena_probe attaches to the calling thread's arena to learn its identity.
struct arena_probe : tbb::detail::d1::task_arena_base {
  arena_probe()
      : task_arena_base(automatic, 1, task_arena_base::priority::normal) {}
  const void* identity() const noexcept {
    return my_arena.load(std::memory_order_relaxed);
  }
};

// identity_of reads a task_arena's internal identity (a protected member,
// named through a derived class).
struct arena_peek : tbb::task_arena {
  static const void* identity_of(const tbb::task_arena& a) noexcept {
    return (a.*(&arena_peek::my_arena)).load(std::memory_order_relaxed);
  }
};

}  // namespace

bool runs_in(const tbb::task_arena& a) noexcept {
  if (tbb::this_task_arena::current_thread_index() ==
      tbb::task_arena::not_initialized) {
    return false;
  }
  arena_probe probe;
  if (!tbb::detail::r1::attach(probe)) return false;
  const bool same = probe.identity() == arena_peek::identity_of(a);
  tbb::detail::r1::terminate(probe);
  return same;
}

void check_reentry_slow(const tbb::task_arena& a, const char* what) {
  // A masterless arena(1) has two slots before oneTBB 2021.11 (interface
  // 12110), one from then on.
  if (TBB_runtime_interface_version() < 12110) return;
  if (a.max_concurrency() != 1) return;
  if (runs_in(a)) return;  // in it now: no re-entry
  throw std::logic_error(
      std::string("tbbx: ") + what +
      ": this thread already runs in that arena further out and has left "
      "it for another one (a plain task_arena::execute); the arena has "
      "max_concurrency 1, and its only slot is held by this thread, so "
      "entering it again would wait forever. Call from inside the arena "
      "itself, or give it max_concurrency >= 2");
}

}  // namespace tbbx::detail
