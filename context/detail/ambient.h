// SPDX-License-Identifier: Apache-2.0
// The ambient context behind this_task::get_context(). Internal.
//
// Each thread has one word, `current_ambient`: the `const context*` of the
// tbbx work running on it, or 0. Scopes set it around every body and task
// tbbx runs and restore it after. (An error_group's handle is a lazy
// context, so naming it costs the group no allocation.)
//
// Pipeline filters are oneTBB's, and tbbx cannot wrap them: while a
// tbbx::parallel_pipeline runs anywhere, get_context() first asks which
// pipeline owns the oneTBB task running on this thread.
#ifndef TBBX_CONTEXT_DETAIL_AMBIENT_H_
#define TBBX_CONTEXT_DETAIL_AMBIENT_H_

#include <atomic>
#include <cstdint>

#include "tbbx/context/detail/export.h"

namespace tbbx {
class context;

namespace detail {

// Defined in a .cc, not inline here: in a shared build an inline
// thread_local would be one copy in libtbbx.so and another in the program.
TBBX_API extern constinit thread_local std::uintptr_t current_ambient;

// running_pipelines counts the tbbx::parallel_pipeline calls in progress.
// Defined in a .cc, like current_ambient, so there is one per process.
TBBX_API extern constinit std::atomic<int> running_pipelines;

class ambient_scope {
 public:
  explicit ambient_scope(const context& ctx) noexcept
      : saved_(current_ambient) {
    current_ambient = reinterpret_cast<std::uintptr_t>(&ctx);
  }
  ~ambient_scope() { current_ambient = saved_; }
  ambient_scope(const ambient_scope&) = delete;
  ambient_scope& operator=(const ambient_scope&) = delete;

 private:
  std::uintptr_t saved_;
};

// context_scope is the name used by the algorithms' bodies.
using context_scope = ambient_scope;

// ambient_context_slow handles running pipelines and the default.
TBBX_API const context& ambient_context_slow(std::uintptr_t ambient) noexcept;

}  // namespace detail
}  // namespace tbbx

#endif  // TBBX_CONTEXT_DETAIL_AMBIENT_H_
