// SPDX-License-Identifier: Apache-2.0
// std::stop_token interop, both ways: a std::stop_token that is
// stop-requested when a context ends, and a context that is canceled when a
// std::stop_token's stop is requested. So a std::jthread's token can drive
// tbbx work, and a tbbx context can drive a std::jthread or anything else
// that takes a std::stop_token (std::condition_variable_any::wait, ...).
//
// clang-format off
//   // tbbx drives a jthread: the thread stops when ctx ends.
//   std::jthread worker(
//       [](std::stop_token st) { while (!st.stop_requested()) poll(); },
//       tbbx::get_stop_token(ctx));
//
//   // A jthread drives tbbx: its body's token cancels the work.
//   std::jthread job([](std::stop_token st) {
//     tbbx::cancelable_context c = tbbx::with_stop_token(tbbx::background(), st);
//     tbbx::parallel_for(c.ctx, 0, n, [](int i) { work(i); });
//   });
// clang-format on
//
// get_stop_token(ctx) returns a token whose stop is requested, once, by the
// thread that ends ctx (for a deadline, tbbx's deferred runner), before that
// thread's cancel returns; std::stop_callbacks on the token run there, as
// on_done callbacks do. Each call registers one small callback on ctx (one
// allocation besides the stop state) that is freed when ctx ends: call it
// once per context and copy the token. The token may outlive ctx; ctx may
// be dropped while tokens live (the registration keeps ctx's cancellation
// node until ctx ends, which every context that can end eventually does,
// its cancel_func canceling when destroyed). For a context that can never
// end (background(), without_cancel()) the token has stop_possible() ==
// false and nothing is registered.
//
// with_stop_token(parent, st) is with_cancel(parent) whose context is also
// canceled (errc::canceled, a canceled_error cause) when st's stop is
// requested, on the requesting thread. The std::stop_callback lives exactly
// as long as the child can still end: it is removed when the child ends for
// any reason, and never touches a freed context. The stop source may die
// first (the child then ends only through its parent or cancel_func), or
// the child may (nothing is left on the token). Keep the returned
// cancel_func as with with_cancel: destroying it cancels the child.
//
// Thread-safety: both are callable from any thread, and race freely with
// cancels, stop requests and the destruction of either side. Everything
// the ending thread did before ending ctx happens-before whatever a thread
// does after it sees stop_requested() return true, and the same for
// request_stop() and done().
#ifndef TBBX_CONTEXT_STOP_TOKEN_H_
#define TBBX_CONTEXT_STOP_TOKEN_H_

#include "tbbx/context/detail/config.h"
#if TBBX_CPLUSPLUS >= 202002L  // otherwise config.h's #error is all

#include <stop_token>

#include "tbbx/context/context.h"

namespace tbbx {

// get_stop_token returns a std::stop_token whose stop is requested when ctx
// ends (at once if ctx is done already). It does not keep ctx's handles
// alive and does not cancel ctx. For a context that can never end, the
// token's stop_possible() is false. Throws std::bad_alloc.
[[nodiscard]] TBBX_API std::stop_token get_stop_token(const context& ctx);

// with_stop_token returns a child of `parent` (with its cancel_func) that
// also ends, with errc::canceled, when st's stop is requested (at once if
// it has been already). A token with stop_possible() == false gives a plain
// with_cancel child. Throws std::bad_alloc.
[[nodiscard]] TBBX_API cancelable_context with_stop_token(const context& parent,
                                                          std::stop_token st);

}  // namespace tbbx

#endif  // TBBX_CPLUSPLUS >= 202002L

#endif  // TBBX_CONTEXT_STOP_TOKEN_H_
