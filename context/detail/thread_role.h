// SPDX-License-Identifier: Apache-2.0
// Which of tbbx's own threads the calling thread is. Internal.
//
// The timer thread (see timer_service.h) runs at real-time priority where
// allowed, so the code it runs must never spin, never wait on a lock a
// normal-priority thread can hold without priority inheritance, and never
// call into oneTBB or user code. Code shared with other threads asks its
// role to decide what it may do inline and what it hands to the deferred
// runner (a normal-priority thread of tbbx's own).
#ifndef TBBX_CONTEXT_DETAIL_THREAD_ROLE_H_
#define TBBX_CONTEXT_DETAIL_THREAD_ROLE_H_

#include <cstdint>

#include "tbbx/context/detail/export.h"

namespace tbbx::detail {

enum class thread_role : std::uint8_t { other, timer, deferred_runner };

// Defined in a .cc, not inline here: in a shared build an inline
// thread_local would be one copy in libtbbx.so and another in the program.
TBBX_API extern constinit thread_local thread_role current_thread_role;

inline thread_role this_thread_role() noexcept { return current_thread_role; }

inline bool on_timer_thread() noexcept {
  return current_thread_role == thread_role::timer;
}

}  // namespace tbbx::detail

#endif  // TBBX_CONTEXT_DETAIL_THREAD_ROLE_H_
