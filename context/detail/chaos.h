// SPDX-License-Identifier: Apache-2.0
// Schedule perturbation for stress testing. Internal.
//
// A build with -DTBBX_CHAOS=1 (the `chaos` flavour of ./dev) makes every
// TBBX_CHAOS_POINT() in the internals, placed at lock acquisitions and at
// the atomics that decide races, yield or sleep for a few microseconds now
// and then, at random. Rare interleavings then happen in seconds instead of
// days. In every other build the macro expands to nothing: zero cost.
#ifndef TBBX_CONTEXT_DETAIL_CHAOS_H_
#define TBBX_CONTEXT_DETAIL_CHAOS_H_

#include "tbbx/context/detail/export.h"

#if defined(TBBX_CHAOS) && TBBX_CHAOS

namespace tbbx::detail {
// chaos_point perturbs the calling thread's schedule: usually nothing,
// sometimes a yield, rarely a sleep of up to ~50 us. Never on the timer
// thread (it must never be delayed by design) unless `timer_ok`.
TBBX_API void chaos_point() noexcept;
// chaos_refuse is true now and then (never on the timer thread): a
// try-operation that may fail spuriously fails, so that its fallback path
// is raced as often as its fast path.
TBBX_API bool chaos_refuse() noexcept;
}  // namespace tbbx::detail

#define TBBX_CHAOS_POINT() ::tbbx::detail::chaos_point()
#define TBBX_CHAOS_REFUSE() ::tbbx::detail::chaos_refuse()

#else

#define TBBX_CHAOS_POINT() \
  do {                     \
  } while (false)
#define TBBX_CHAOS_REFUSE() false

#endif

#endif  // TBBX_CONTEXT_DETAIL_CHAOS_H_
