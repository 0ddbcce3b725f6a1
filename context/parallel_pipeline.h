// SPDX-License-Identifier: Apache-2.0
// tbbx::parallel_pipeline: tbb::parallel_pipeline bounded by a context.
//
// clang-format off
//   tbbx::cancelable_context c = tbbx::with_cancel(parent);
//   tbbx::parallel_pipeline(c.ctx, /*max_live_tokens=*/8,
//       tbb::make_filter<void, record>(tbb::filter_mode::serial_in_order,
//                                      read_next) &
//       tbb::make_filter<record, void>(tbb::filter_mode::parallel,
//           [&](record r) {
//             if (r.bad()) c.cancel(std::make_exception_ptr(bad_record(r)));
//             else store(r);
//           }));                    // throws bad_record once canceled
// clang-format on
//
// oneTBB's signature with `const context& ctx` first. Once ctx is done the
// pipeline takes no new tokens, the call waits for the tokens in flight
// and throws ctx.cause(). Inside the filters this_task::get_context() is ctx
// (looked up from the running oneTBB task, since filter bodies cannot be
// wrapped); filters that run long should poll ctx.done() themselves.
#ifndef TBBX_CONTEXT_PARALLEL_PIPELINE_H_
#define TBBX_CONTEXT_PARALLEL_PIPELINE_H_

#include "tbbx/context/detail/config.h"
#if TBBX_CPLUSPLUS >= 202002L  // otherwise config.h's #error is all

#include <oneapi/tbb/parallel_pipeline.h>

#include <cstddef>

#include "tbbx/context/context.h"
#include "tbbx/context/detail/bounded_run.h"

namespace tbbx {

inline void parallel_pipeline(const context& ctx,
                              std::size_t max_number_of_live_tokens,
                              const tbb::filter<void, void>& filter_chain) {
  detail::bounded_run(ctx, [&](tbb_context& bound) {
    detail::pipeline_registration registration(bound);
    tbb::parallel_pipeline(max_number_of_live_tokens, filter_chain,
                           bound.native());
  });
}

}  // namespace tbbx

#endif  // TBBX_CPLUSPLUS >= 202002L

#endif  // TBBX_CONTEXT_PARALLEL_PIPELINE_H_
