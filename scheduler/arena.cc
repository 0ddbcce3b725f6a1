// SPDX-License-Identifier: Apache-2.0
// Core types and threads per core are a oneTBB preview in 2021.8.
#define TBB_PREVIEW_TASK_ARENA_CONSTRAINTS_EXTENSION 1

#include "tbbx/scheduler/arena.h"

#include <oneapi/tbb/info.h>

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "tbbx/context/detail/default_arena.h"

namespace tbbx {

namespace {

template <class Id>
void check_id(Id id, const std::vector<Id>& valid, const char* what) {
  if (id == -1 || std::find(valid.begin(), valid.end(), id) != valid.end()) {
    return;
  }
  throw std::invalid_argument(std::string("tbbx::arena: ") + what + " " +
                              std::to_string(id) +
                              " is not one oneTBB reports on this machine");
}

std::unique_ptr<tbb::task_arena> make_native(const arena_options& o) {
  if (o.max_concurrency == 0 || o.max_concurrency < -1) {
    throw std::invalid_argument(
        "tbbx::arena: max_concurrency must be positive or -1 (all), got " +
        std::to_string(o.max_concurrency));
  }
  if (o.max_threads_per_core == 0 || o.max_threads_per_core < -1) {
    throw std::invalid_argument(
        "tbbx::arena: max_threads_per_core must be positive or -1, got " +
        std::to_string(o.max_threads_per_core));
  }
  // Like the default arena: no slot reserved for callers, and room in the
  // market for a worker per slot (at least the default arena's share).
  detail::default_arena();
  std::unique_ptr<tbb::task_arena> native;
  if (o.numa_node == -1 && o.core_type == -1 && o.max_threads_per_core == -1) {
    // No constraint: oneTBB need not load its topology library (tbbbind,
    // which AddressSanitizer also refuses to load).
    native = std::make_unique<tbb::task_arena>(o.max_concurrency,
                                               /*reserved_for_masters=*/0);
  } else {
    if (o.numa_node != -1) {
      check_id(o.numa_node, tbb::info::numa_nodes(), "NUMA node");
    }
    if (o.core_type != -1) {
      check_id(o.core_type, tbb::info::core_types(), "core type");
    }
    tbb::task_arena::constraints c;
    c.numa_id = o.numa_node;
    c.max_concurrency = o.max_concurrency;
    c.core_type = o.core_type;
    c.max_threads_per_core = o.max_threads_per_core;
    native = std::make_unique<tbb::task_arena>(c, /*reserved_for_masters=*/0);
  }
  native->initialize();
  return native;
}

}  // namespace

arena::arena(arena_options options)
    : name_(std::move(options.name)),
      native_(nullptr),
      owned_(make_native(options)) {
  native_ = owned_.get();
}

arena::arena(adopt_tag, std::string name, tbb::task_arena* native)
    : name_(std::move(name)), native_(native) {}

arena::~arena() = default;

arena& arena::default_arena() {
  // Leaked like the arena it wraps.
  static arena* const instance =
      new arena(adopt_tag{}, "tbbx.default", &detail::default_arena());
  return *instance;
}

int arena::max_concurrency() const { return native_->max_concurrency(); }

}  // namespace tbbx
