// SPDX-License-Identifier: Apache-2.0
// first_of: run several functions side by side; the first to succeed wins
// and the others are canceled.
//
// clang-format off
//   auto answer = tbbx::first_of(ctx,
//       [&](const tbbx::context& c) { return ask_replica(c, "east"); },
//       [&](const tbbx::context& c) { return ask_replica(c, "west"); });
// clang-format on
//
// Every function starts at once as a task on tbbx's default arena and gets
// a context that is canceled when another one wins (cause: canceled_error
// "another attempt won") or when ctx ends. first_of returns the first
// success without waiting for the others; if every function fails it throws
// a multi_error of all their errors; if ctx ends first it throws
// ctx.cause(). The functions are copied into state that lives until the
// last of them returns; what they capture by reference must live as long.
// All must return the same type (void allowed).
#ifndef TBBX_PATTERNS_FIRST_OF_H_
#define TBBX_PATTERNS_FIRST_OF_H_

#include "tbbx/context/detail/config.h"
#if TBBX_CPLUSPLUS >= 202002L  // otherwise config.h's #error is all

#include <concepts>
#include <tuple>
#include <type_traits>
#include <utility>

#include "tbbx/context/context.h"
#include "tbbx/patterns/detail/hedge_core.h"

namespace tbbx {
namespace detail {

// by_index calls the index-th function of a tuple.
template <class Tuple, class R, std::size_t... I>
R call_by_index(const Tuple& fs, const context& ctx, int index,
                std::index_sequence<I...>) {
  using call_fn = R (*)(const Tuple&, const context&);
  static constexpr call_fn table[] = {
      +[](const Tuple& t, const context& c) -> R {
        return std::get<I>(t)(c);
      }...};
  return table[index](fs, ctx);
}

}  // namespace detail

template <class... F>
  requires(sizeof...(F) >= 1 &&
           (std::invocable<const std::decay_t<F>&, const context&> && ...) &&
           (std::copy_constructible<std::decay_t<F>> && ...))
auto first_of(const context& ctx, F&&... fs) {
  using result = std::invoke_result_t<
      const std::decay_t<std::tuple_element_t<0, std::tuple<F...>>>&,
      const context&>;
  static_assert(
      (std::is_same_v<
           std::invoke_result_t<const std::decay_t<F>&, const context&>,
           result> &&
       ...),
      "tbbx::first_of: every function must return the same type");
  using tuple = std::tuple<std::decay_t<F>...>;
  auto dispatch = [all = tuple(std::forward<F>(fs)...)](const context& c,
                                                        int index) -> result {
    return detail::call_by_index<tuple, result>(
        all, c, index, std::index_sequence_for<F...>{});
  };
  return detail::run_hedged<result>(
      ctx,
      detail::hedge_plan{std::chrono::steady_clock::duration::zero(),
                         static_cast<int>(sizeof...(F)), nullptr,
                         /*start_all=*/true},
      std::move(dispatch), nullptr);
}

}  // namespace tbbx

#endif  // TBBX_CPLUSPLUS >= 202002L

#endif  // TBBX_PATTERNS_FIRST_OF_H_
