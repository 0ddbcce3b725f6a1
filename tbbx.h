// SPDX-License-Identifier: Apache-2.0
// tbbx: Go's concurrency toolkit on oneTBB. The umbrella header.
//
//   #include <tbbx/tbbx.h>
//
// clang-format off
//   tbbx::cancelable_context c = tbbx::with_timeout(tbbx::background(), 200ms);
//   tbbx::parallel_for(c.ctx, 0, n, [&](int i) { work(i); });
//                                   // throws c.ctx.cause() if cut short
// clang-format on
#ifndef TBBX_TBBX_H_
#define TBBX_TBBX_H_

#include "tbbx/context/detail/config.h"
#if TBBX_CPLUSPLUS >= 202002L  // otherwise config.h's #error is all

#include "tbbx/context/algorithms.h"
#include "tbbx/context/callbacks.h"
#include "tbbx/context/context.h"
#include "tbbx/context/error_collector.h"
#include "tbbx/context/errors.h"
#include "tbbx/context/flow_graph.h"
#include "tbbx/context/multi_error.h"
#include "tbbx/context/stop_token.h"
#include "tbbx/context/tbb_context.h"
#include "tbbx/context/timer.h"
#include "tbbx/patterns/error_group.h"
#include "tbbx/patterns/first_of.h"
#include "tbbx/patterns/hedge.h"
#include "tbbx/patterns/retry.h"
#include "tbbx/patterns/semaphore.h"
#include "tbbx/patterns/single_flight.h"
#include "tbbx/scheduler/arena.h"
#include "tbbx/scheduler/task_graph.h"

#endif  // TBBX_CPLUSPLUS >= 202002L

#endif  // TBBX_TBBX_H_
