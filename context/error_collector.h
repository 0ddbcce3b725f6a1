// SPDX-License-Identifier: Apache-2.0
// error_collector: a thread-safe bag of errors that many tasks add to.
//
// clang-format off
//   tbbx::error_collector errors;
//   tbbx::parallel_for(ctx, 0, n, [&](int i) {
//     try { process(i); } catch (...) { errors.add(std::current_exception()); }
//   });
//   if (auto e = errors.join()) std::rethrow_exception(e);  // a multi_error
// clang-format on
//
// add() is lock-free: one allocation and one compare-and-swap, so threads
// adding at once never wait on a lock. Nothing added is lost. join()
// returns every error added before it was called, in the order the adds took
// effect; it may run concurrently with add(). Null errors are ignored. A
// default-constructed collector is empty; it is neither copyable nor
// movable.
#ifndef TBBX_CONTEXT_ERROR_COLLECTOR_H_
#define TBBX_CONTEXT_ERROR_COLLECTOR_H_

#include "tbbx/context/detail/config.h"
#if TBBX_CPLUSPLUS >= 202002L  // otherwise config.h's #error is all

#include <atomic>
#include <cstddef>
#include <exception>
#include <vector>

namespace tbbx {

class TBBX_API error_collector {
 public:
  error_collector() noexcept = default;
  ~error_collector();
  error_collector(const error_collector&) = delete;
  error_collector& operator=(const error_collector&) = delete;

  // add records `e` (a null `e` is ignored). Never blocks.
  void add(std::exception_ptr e);

  // size is the number of errors added so far: never fewer than an
  // errors() call that returned before it saw.
  std::size_t size() const noexcept {
    const entry* newest = newest_.load(std::memory_order_acquire);
    return newest != nullptr ? newest->count : 0;
  }

  // errors returns every error added so far, oldest first.
  std::vector<std::exception_ptr> errors() const;

  // join is join_errors(errors()): nullptr if empty, else a multi_error.
  std::exception_ptr join() const;

 private:
  struct entry {
    std::exception_ptr error;
    entry* next;        // the entry added before this one
    std::size_t count;  // entries up to and including this one
  };
  std::atomic<entry*> newest_{nullptr};  // a lock-free stack
};

}  // namespace tbbx

#endif  // TBBX_CPLUSPLUS >= 202002L

#endif  // TBBX_CONTEXT_ERROR_COLLECTOR_H_
