// SPDX-License-Identifier: Apache-2.0
// timer_entry: one pending timer of the timer service. Internal.
//
// Intrusive: the service never allocates per entry, so scheduling never
// fails. The owner keeps the entry alive until `fire` has run or `cancel`
// returned true.
#ifndef TBBX_CONTEXT_DETAIL_TIMER_ENTRY_H_
#define TBBX_CONTEXT_DETAIL_TIMER_ENTRY_H_

#include <chrono>
#include <cstdint>

#include "tbbx/context/detail/intrusive_list.h"

namespace tbbx::detail {

struct timer_entry {
  using fire_fn = void (*)(timer_entry*) noexcept;
  // Where `fire` runs. on_timer_thread: it must be short and timer-safe
  // (no oneTBB, no user code, no lock but pi_locks, no freeing memory):
  // context deadlines. deferred: on tbbx's normal-priority deferred runner
  // right after the due time (hedge delays, which start oneTBB tasks).
  enum class where : std::uint8_t { on_timer_thread, deferred };

  explicit timer_entry(fire_fn f, where w = where::on_timer_thread) noexcept
      : fire(f), runs(w) {}

  const fire_fn fire;
  const where runs;
  // The rest is guarded by the service lock.
  std::uint8_t state = 0;  // timer_wheel's: idle, queued or taken to fire
  std::uint16_t slot = 0;  // where it is queued in the wheel
  std::int64_t tick = 0;   // due time in wheel ticks
  list_hook<timer_entry> hook;
};

}  // namespace tbbx::detail

#endif  // TBBX_CONTEXT_DETAIL_TIMER_ENTRY_H_
