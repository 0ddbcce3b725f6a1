// SPDX-License-Identifier: Apache-2.0
// multi_error: many errors as one exception, and the helpers around it
// (Go's errors.Join and errors.As).
//
// clang-format off
//   std::vector<std::exception_ptr> errs = collect();  // nulls are dropped
//   try {
//     if (auto joined = tbbx::join_errors(errs)) std::rethrow_exception(joined);
//   } catch (...) {
//     auto e = std::current_exception();
//     if (const auto* io = tbbx::find_error<std::ios_base::failure>(e)) retry(*io);
//   }
// clang-format on
//
// A multi_error is flat: constructing one from errors that are themselves
// multi_errors takes their errors in their place, so errors() never holds a
// multi_error. what() reads "N errors: " followed by the messages; beyond
// 10 it names the first 10 and how many more there are (errors() keeps all).
// multi_error is immutable and safe to share between threads.
#ifndef TBBX_CONTEXT_MULTI_ERROR_H_
#define TBBX_CONTEXT_MULTI_ERROR_H_

#include "tbbx/context/detail/config.h"
#if TBBX_CPLUSPLUS >= 202002L  // otherwise config.h's #error is all

#include <cstddef>
#include <exception>
#include <string>
#include <vector>

namespace tbbx {

class TBBX_API multi_error : public std::exception {
 public:
  // multi_error flattens nested multi_errors and drops null entries.
  explicit multi_error(std::vector<std::exception_ptr> errors);

  const std::vector<std::exception_ptr>& errors() const noexcept {
    return errors_;
  }
  std::size_t size() const noexcept { return errors_.size(); }
  const char* what() const noexcept override { return what_.c_str(); }

  // message_of returns what() of a std::exception, or a placeholder.
  static std::string message_of(const std::exception_ptr& e);

 private:
  std::vector<std::exception_ptr> errors_;
  std::string what_;
};

// join_errors drops nulls and returns nullptr if nothing is left, else a
// multi_error (even for one error), flattened.
TBBX_API std::exception_ptr join_errors(std::vector<std::exception_ptr> errors);

namespace detail {
// find_in_error_tree calls visit(e) on `root` and, depth first, on every
// error inside it (multi_error members and std::nested_exception chains)
// until visit returns true, and returns whether it did. Each exception
// object is visited once, so a cycle of nested exceptions (an exception
// that nests itself, directly or not) ends the walk instead of looping.
TBBX_API bool find_in_error_tree(const std::exception_ptr& e,
                                 bool (*visit)(const std::exception_ptr&,
                                               void*),
                                 void* state);
}  // namespace detail

// find_error returns the first E (or class derived from E) in `e` or
// anywhere inside its multi_error tree and nested_exception chains, depth
// first, or nullptr. The pointer lives as long as `e` does. Cycles of
// nested exceptions are walked once.
template <class E>
const E* find_error(const std::exception_ptr& e) noexcept {
  struct search {
    const E* found = nullptr;
  } s;
  auto visit = [](const std::exception_ptr& candidate, void* state) {
    try {
      std::rethrow_exception(candidate);
    } catch (const E& match) {
      static_cast<search*>(state)->found = &match;
      return true;
    } catch (...) {
    }
    return false;
  };
  try {
    detail::find_in_error_tree(e, visit, &s);
  } catch (...) {
    return nullptr;
  }
  return s.found;
}

}  // namespace tbbx

#endif  // TBBX_CPLUSPLUS >= 202002L

#endif  // TBBX_CONTEXT_MULTI_ERROR_H_
