#include "tbbx/scheduler/detail/default_arena.h"

#include <oneapi/tbb/task_arena.h>

namespace tbbx::detail {
namespace {

tbb::task_arena& default_arena() {
  // Leaked on purpose: tasks may be enqueued from exit-time callbacks.
  static tbb::task_arena* const arena = new tbb::task_arena();
  return *arena;
}

}  // namespace

void enqueue_task(std::function<void()> f) {
  default_arena().enqueue(std::move(f));
}

}  // namespace tbbx::detail
