// SPDX-License-Identifier: Apache-2.0
// The context-aware oneTBB algorithms: oneTBB's signatures with
// `const context& ctx` first and the task_group_context argument removed.
// Each stops scheduling new work once ctx is done and then throws
// ctx.cause() instead of returning a silently partial result (oneTBB's own
// algorithms return normally when canceled: uxlfoundation/oneTBB#253).
#ifndef TBBX_CONTEXT_ALGORITHMS_H_
#define TBBX_CONTEXT_ALGORITHMS_H_

#include "tbbx/context/detail/config.h"
#if TBBX_CPLUSPLUS >= 202002L  // otherwise config.h's #error is all

#include "tbbx/context/parallel_for.h"
#include "tbbx/context/parallel_for_each.h"
#include "tbbx/context/parallel_invoke.h"
#include "tbbx/context/parallel_pipeline.h"
#include "tbbx/context/parallel_reduce.h"
#include "tbbx/context/parallel_sort.h"

#endif  // TBBX_CPLUSPLUS >= 202002L

#endif  // TBBX_CONTEXT_ALGORITHMS_H_
