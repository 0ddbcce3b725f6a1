// tbbx: Go's concurrency toolkit on oneTBB. The umbrella header.
//
//   #include <tbbx/tbbx.h>
//
//   auto [ctx, cancel] = tbbx::with_timeout(tbbx::background(), 200ms);
//   tbbx::parallel_for(ctx, 0, n, [&](int i) { work(i); });  // throws the
//                                                            // cause if cut
//                                                            // short
#ifndef TBBX_TBBX_H_
#define TBBX_TBBX_H_

#include "tbbx/context/algorithms.h"
#include "tbbx/context/callbacks.h"
#include "tbbx/context/context.h"
#include "tbbx/context/errors.h"
#include "tbbx/context/tbb_context.h"
#include "tbbx/patterns/error_collector.h"
#include "tbbx/patterns/error_group.h"
#include "tbbx/patterns/first_of.h"
#include "tbbx/patterns/hedge.h"
#include "tbbx/patterns/multi_error.h"
#include "tbbx/patterns/retry.h"
#include "tbbx/patterns/semaphore.h"
#include "tbbx/patterns/single_flight.h"
#include "tbbx/scheduler/arena.h"
#include "tbbx/scheduler/task_graph.h"

#endif  // TBBX_TBBX_H_
