// SPDX-License-Identifier: Apache-2.0
// Error codes and exception types for contexts that are done.
//
// A context ends in one of two ways, told apart by `err()`:
//   errc::canceled           someone called its cancel_func (or its parent's)
//   errc::deadline_exceeded  its deadline (or its parent's) passed
// The codes belong to `context_category()` ("tbbx.context"), whose
// `default_error_condition` maps them to the generic conditions
// std::errc::operation_canceled and std::errc::timed_out, so code that only
// knows `<system_error>` still recognises a timeout:
//
// clang-format off
//   try {
//     tbbx::parallel_for(ctx, range, body);
//   } catch (const std::system_error& e) {
//     if (e.code() == std::errc::timed_out) retry_later();
//   }
// clang-format on
//
// `context::cause()` returns a `canceled_error` or `deadline_exceeded_error`
// unless the canceler supplied its own cause. Both derive from
// `context_error`, itself a `std::system_error`.
#ifndef TBBX_CONTEXT_ERRORS_H_
#define TBBX_CONTEXT_ERRORS_H_

#include "tbbx/context/detail/config.h"
#if TBBX_CPLUSPLUS >= 202002L  // otherwise config.h's #error is all

#include <string>
#include <system_error>
#include <type_traits>

namespace tbbx {

// errc is why a context is done. Zero is not used, so a default
// std::error_code{} means "not done".
enum class errc { canceled = 1, deadline_exceeded = 2 };

// context_category returns the category of tbbx::errc; its name() is
// "tbbx.context". The object is a singleton and lives forever.
TBBX_API const std::error_category& context_category() noexcept;

TBBX_API std::error_code make_error_code(errc e) noexcept;

// context_error is the base of the exceptions a done context reports.
// code() is always a tbbx::errc in context_category().
class TBBX_API context_error : public std::system_error {
 public:
  explicit context_error(errc e) : std::system_error(make_error_code(e)) {}
  context_error(errc e, const std::string& what_arg)
      : std::system_error(make_error_code(e), what_arg) {}
};

// canceled_error is the default cause of a canceled context;
// what() is "context canceled".
class TBBX_API canceled_error : public context_error {
 public:
  canceled_error() : context_error(errc::canceled) {}
  explicit canceled_error(const std::string& what_arg)
      : context_error(errc::canceled, what_arg) {}
};

// deadline_exceeded_error is the default cause of a context whose deadline
// passed; what() is "context deadline exceeded".
class TBBX_API deadline_exceeded_error : public context_error {
 public:
  deadline_exceeded_error() : context_error(errc::deadline_exceeded) {}
  explicit deadline_exceeded_error(const std::string& what_arg)
      : context_error(errc::deadline_exceeded, what_arg) {}
};

}  // namespace tbbx

namespace std {
template <>
struct is_error_code_enum<tbbx::errc> : true_type {};
}  // namespace std

#endif  // TBBX_CPLUSPLUS >= 202002L

#endif  // TBBX_CONTEXT_ERRORS_H_
