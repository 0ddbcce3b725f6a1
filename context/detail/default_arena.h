// SPDX-License-Identifier: Apache-2.0
// The default arena: where tbbx runs its own tasks (after_func functions,
// hedged attempts) unless told otherwise. Internal; public as
// tbbx::arena::default_arena() (<tbbx/scheduler/arena.h>).
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
#ifndef TBBX_CONTEXT_DETAIL_DEFAULT_ARENA_H_
#define TBBX_CONTEXT_DETAIL_DEFAULT_ARENA_H_

#include <oneapi/tbb/task_arena.h>

#include "tbbx/context/detail/export.h"

namespace tbbx::detail {

// default_arena is created on first use and lives for the process.
TBBX_API tbb::task_arena& default_arena();

// default_concurrency is the number of threads default_arena runs tasks
// on when nothing restricts it: one per CPU this process may use.
TBBX_API int default_concurrency() noexcept;

}  // namespace tbbx::detail

#endif  // TBBX_CONTEXT_DETAIL_DEFAULT_ARENA_H_
