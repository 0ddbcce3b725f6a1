// SPDX-License-Identifier: Apache-2.0
// tbbx::parallel_reduce and parallel_deterministic_reduce: oneTBB's
// reductions bounded by a context.
//
// clang-format off
//   double sum = tbbx::parallel_reduce(
//       ctx, tbb::blocked_range<size_t>(0, v.size()), 0.0,
//       [&](const auto& r, double acc) {
//         for (size_t i = r.begin(); i != r.end(); ++i) acc += v[i];
//         return acc;
//       },
//       std::plus<>());        // throws ctx.cause() instead of a partial sum
// clang-format on
//
// Both forms (imperative Body with splitting constructor and join, and
// functional identity/real_body/reduction) and every partitioner oneTBB
// accepts are supported. A reduction cut short by ctx never returns: it
// throws ctx.cause(). Inside the body this_task::get_context() is ctx.
#ifndef TBBX_CONTEXT_PARALLEL_REDUCE_H_
#define TBBX_CONTEXT_PARALLEL_REDUCE_H_

#include "tbbx/context/detail/config.h"
#if TBBX_CPLUSPLUS >= 202002L  // otherwise config.h's #error is all

#include <oneapi/tbb/parallel_reduce.h>

#include <concepts>
#include <optional>
#include <utility>

#include "tbbx/context/context.h"
#include "tbbx/context/detail/bounded_run.h"

namespace tbbx {
namespace detail {

// reduce_body adapts an imperative Body: it splits and joins the user's
// bodies and skips chunks once ctx is done.
template <class Range, class Body>
class reduce_body {
 public:
  reduce_body(const context& ctx, Body& body) : ctx_(&ctx), body_(&body) {}
  reduce_body(reduce_body& other, tbb::split s)
      : ctx_(other.ctx_),
        split_(std::in_place, *other.body_, s),
        body_(&*split_) {}

  void operator()(const Range& r) { guarded_call(*ctx_, *body_, r); }
  void join(reduce_body& rhs) { body_->join(*rhs.body_); }

 private:
  const context* ctx_;
  std::optional<Body> split_;  // engaged in split copies only
  Body* body_;                 // the user's body, or *split_
};

template <bool Deterministic, class Range, class Body, class... Partitioner>
void imperative_reduce(const context& ctx, const Range& range, Body& body,
                       Partitioner&&... partitioner) {
  bounded_run(ctx, [&](tbb::task_group_context& native) {
    reduce_body<Range, Body> adapter(ctx, body);
    if constexpr (Deterministic) {
      tbb::parallel_deterministic_reduce(range, adapter, partitioner...,
                                         native);
    } else {
      tbb::parallel_reduce(range, adapter, partitioner..., native);
    }
  });
}

template <bool Deterministic, class Range, class Value, class RealBody,
          class Reduction, class... Partitioner>
Value functional_reduce(const context& ctx, const Range& range,
                        const Value& identity, const RealBody& real_body,
                        const Reduction& reduction,
                        Partitioner&&... partitioner) {
  return bounded_run(ctx, [&](tbb::task_group_context& native) {
    auto body = [&](const Range& r, const Value& acc) -> Value {
      if (ctx.done()) return acc;
      context_scope scope(ctx);
      return real_body(r, acc);
    };
    if constexpr (Deterministic) {
      return tbb::parallel_deterministic_reduce(
          range, identity, body, reduction, partitioner..., native);
    } else {
      return tbb::parallel_reduce(range, identity, body, reduction,
                                  partitioner..., native);
    }
  });
}

}  // namespace detail

// Imperative form: Body has Body(Body&, tbb::split), operator()(const
// Range&) and join(Body&); the result is in `body` when the call returns.
template <detail::tbb_range Range, class Body>
  requires std::constructible_from<Body, Body&, tbb::split>
void parallel_reduce(const context& ctx, const Range& range, Body& body) {
  detail::imperative_reduce<false>(ctx, range, body);
}

template <detail::tbb_range Range, class Body,
          detail::tbb_partitioner Partitioner>
  requires std::constructible_from<Body, Body&, tbb::split>
void parallel_reduce(const context& ctx, const Range& range, Body& body,
                     Partitioner&& partitioner) {
  detail::imperative_reduce<false>(ctx, range, body, partitioner);
}

// Functional form: returns reduction over real_body(subrange, identity).
template <detail::tbb_range Range, class Value, class RealBody, class Reduction>
  requires std::invocable<const RealBody&, const Range&, const Value&>
Value parallel_reduce(const context& ctx, const Range& range,
                      const Value& identity, const RealBody& real_body,
                      const Reduction& reduction) {
  return detail::functional_reduce<false>(ctx, range, identity, real_body,
                                          reduction);
}

template <detail::tbb_range Range, class Value, class RealBody, class Reduction,
          detail::tbb_partitioner Partitioner>
  requires std::invocable<const RealBody&, const Range&, const Value&>
Value parallel_reduce(const context& ctx, const Range& range,
                      const Value& identity, const RealBody& real_body,
                      const Reduction& reduction, Partitioner&& partitioner) {
  return detail::functional_reduce<false>(ctx, range, identity, real_body,
                                          reduction, partitioner);
}

// Deterministic forms: the same split and join order on every run (oneTBB
// allows the simple and static partitioners here).
template <detail::tbb_range Range, class Body>
  requires std::constructible_from<Body, Body&, tbb::split>
void parallel_deterministic_reduce(const context& ctx, const Range& range,
                                   Body& body) {
  detail::imperative_reduce<true>(ctx, range, body);
}

template <detail::tbb_range Range, class Body,
          detail::tbb_partitioner Partitioner>
  requires std::constructible_from<Body, Body&, tbb::split>
void parallel_deterministic_reduce(const context& ctx, const Range& range,
                                   Body& body, Partitioner&& partitioner) {
  detail::imperative_reduce<true>(ctx, range, body, partitioner);
}

template <detail::tbb_range Range, class Value, class RealBody, class Reduction>
  requires std::invocable<const RealBody&, const Range&, const Value&>
Value parallel_deterministic_reduce(const context& ctx, const Range& range,
                                    const Value& identity,
                                    const RealBody& real_body,
                                    const Reduction& reduction) {
  return detail::functional_reduce<true>(ctx, range, identity, real_body,
                                         reduction);
}

template <detail::tbb_range Range, class Value, class RealBody, class Reduction,
          detail::tbb_partitioner Partitioner>
  requires std::invocable<const RealBody&, const Range&, const Value&>
Value parallel_deterministic_reduce(const context& ctx, const Range& range,
                                    const Value& identity,
                                    const RealBody& real_body,
                                    const Reduction& reduction,
                                    Partitioner&& partitioner) {
  return detail::functional_reduce<true>(ctx, range, identity, real_body,
                                         reduction, partitioner);
}

}  // namespace tbbx

#endif  // TBBX_CPLUSPLUS >= 202002L

#endif  // TBBX_CONTEXT_PARALLEL_REDUCE_H_
