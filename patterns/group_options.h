// SPDX-License-Identifier: Apache-2.0
// group_options: how an error_group admits, cancels and places its tasks.
//
// clang-format off
//   tbbx::error_group g(ctx, {.limit = 4, .cancel_on_error = false});
// clang-format on
//
// Kept apart from error_group.h so that the group's internal header
// (detail/group_core.h) can name it without a public type living there.
#ifndef TBBX_PATTERNS_GROUP_OPTIONS_H_
#define TBBX_PATTERNS_GROUP_OPTIONS_H_

#include "tbbx/context/detail/config.h"
#if TBBX_CPLUSPLUS >= 202002L  // otherwise config.h's #error is all

namespace tbbx {

class arena;

// group_options configures an error_group. The defaults are Go's
// errgroup.WithContext: no limit, the first error cancels the group, and
// tasks run on the arena of the thread that calls go().
struct group_options {
  int limit = -1;                // < 0: no limit; 0: admits nothing
  bool cancel_on_error = true;   // false: collect every error, cancel nothing
  tbbx::arena* arena = nullptr;  // run the tasks in this arena instead
};

}  // namespace tbbx

#endif  // TBBX_CPLUSPLUS >= 202002L
#endif  // TBBX_PATTERNS_GROUP_OPTIONS_H_
