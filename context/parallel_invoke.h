// SPDX-License-Identifier: Apache-2.0
// tbbx::parallel_invoke: run functions side by side under a context.
//
// clang-format off
//   tbbx::parallel_invoke(ctx, [&] { left = build(l); },
//                              [&] { right = build(r); });
// clang-format on
//
// Functions not yet started when ctx is done are skipped and the call throws
// ctx.cause(). Inside each function this_task::get_context() is ctx.
#ifndef TBBX_CONTEXT_PARALLEL_INVOKE_H_
#define TBBX_CONTEXT_PARALLEL_INVOKE_H_

#include "tbbx/context/detail/config.h"
#if TBBX_CPLUSPLUS >= 202002L  // otherwise config.h's #error is all

#include <oneapi/tbb/parallel_invoke.h>

#include <concepts>

#include "tbbx/context/context.h"
#include "tbbx/context/detail/bounded_run.h"

namespace tbbx {

template <class... Functions>
  requires(sizeof...(Functions) >= 2 && (std::invocable<Functions&> && ...))
void parallel_invoke(const context& ctx, Functions&&... fs) {
  detail::bounded_run(ctx, [&](tbb::task_group_context& native) {
    tbb::parallel_invoke([&] { detail::guarded_call(ctx, fs); }..., native);
  });
}

}  // namespace tbbx

#endif  // TBBX_CPLUSPLUS >= 202002L

#endif  // TBBX_CONTEXT_PARALLEL_INVOKE_H_
