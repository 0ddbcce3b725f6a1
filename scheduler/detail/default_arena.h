// The arena that tbbx runs its own tasks on (after_func today; the patterns
// build on it). Internal.
#ifndef TBBX_SCHEDULER_DETAIL_DEFAULT_ARENA_H_
#define TBBX_SCHEDULER_DETAIL_DEFAULT_ARENA_H_

#include <functional>

namespace tbbx::detail {

// enqueue_task runs `f` as a oneTBB task on tbbx's default arena and
// returns without waiting. `f` must not throw: oneTBB terminates the
// process if an enqueued functor does.
void enqueue_task(std::function<void()> f);

}  // namespace tbbx::detail

#endif  // TBBX_SCHEDULER_DETAIL_DEFAULT_ARENA_H_
