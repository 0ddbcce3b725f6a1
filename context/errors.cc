// SPDX-License-Identifier: Apache-2.0
#include "tbbx/context/errors.h"

namespace tbbx {
namespace {

class context_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "tbbx.context"; }

  // The messages are Go's context.Canceled / DeadlineExceeded strings, which
  // Go programmers grep their logs for.
  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::canceled:
        return "context canceled";
      case errc::deadline_exceeded:
        return "context deadline exceeded";
    }
    return "unknown tbbx.context error";
  }

  std::error_condition default_error_condition(
      int value) const noexcept override {
    switch (static_cast<errc>(value)) {
      case errc::canceled:
        return std::errc::operation_canceled;
      case errc::deadline_exceeded:
        return std::errc::timed_out;
    }
    return std::error_condition(value, *this);
  }
};

}  // namespace

const std::error_category& context_category() noexcept {
  static const context_category_impl category;
  return category;
}

std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), context_category()};
}

}  // namespace tbbx
