// The arena tbbx runs its own tasks on: after_func functions and hedged
// attempts. Internal.
//
// A caller blocked in a tbbx call (hedge() waiting for the first success)
// is outside every arena, so with oneTBB's defaults (cores - 1 workers) it
// would take one core's worth of parallelism with it: on 2 cores attempt 2
// would queue behind a slow attempt 1. This arena therefore reserves no
// slot for external threads, and tbbx raises max_allowed_parallelism to
// cores + 1 (a tbb::global_control held for the process), so that the
// market gives it one worker per core: blocked callers are replaced. A
// user's own global_control with a lower limit still wins (oneTBB applies
// the most restrictive one); the patterns then run on fewer threads.
#ifndef TBBX_SCHEDULER_DETAIL_DEFAULT_ARENA_H_
#define TBBX_SCHEDULER_DETAIL_DEFAULT_ARENA_H_

#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>

#include <functional>

namespace tbbx::detail {

// patterns_arena is created on first use and lives for the process.
tbb::task_arena& patterns_arena();

// patterns_concurrency is the number of threads patterns_arena runs tasks
// on when nothing restricts it: one per hardware thread.
int patterns_concurrency() noexcept;

// scheduling_context is the oneTBB context every tbbx task (error_group
// tasks, task_graph nodes) runs under: isolated and never canceled, so one
// is shared by all; tbbx cancels work through its own contexts instead.
tbb::task_group_context& scheduling_context() noexcept;

// enqueue_task runs `f` as a oneTBB task on patterns_arena and returns
// without waiting. `f` must not throw: oneTBB terminates the process if an
// enqueued functor does.
void enqueue_task(std::function<void()> f);

}  // namespace tbbx::detail

#endif  // TBBX_SCHEDULER_DETAIL_DEFAULT_ARENA_H_
