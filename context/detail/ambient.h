// The ambient context behind this_task::get_context(). Internal.
//
// Each thread has one word, `current_ambient`, naming what the tbbx work
// running on it belongs to: 0 for nothing, a `const context*`, or a
// `context_source*` with the low bit set. A source supplies its context
// lazily (an error_group creates its derived context only when someone asks
// for it). Scopes set the word around every body tbbx runs and restore it.
#ifndef TBBX_CONTEXT_DETAIL_AMBIENT_H_
#define TBBX_CONTEXT_DETAIL_AMBIENT_H_

#include <cstdint>

namespace tbbx {
class context;

namespace detail {

class context_source {
 public:
  // ambient_context returns the source's context, creating it if needed.
  virtual const context& ambient_context() const noexcept = 0;

 protected:
  ~context_source() = default;
};

extern constinit thread_local std::uintptr_t current_ambient;

inline constexpr std::uintptr_t source_tag = 1;

// current_source returns the source of the work on this thread, or null.
inline const context_source* current_source() noexcept {
  const std::uintptr_t a = current_ambient;
  return (a & source_tag) != 0
             ? reinterpret_cast<const context_source*>(a & ~source_tag)
             : nullptr;
}

class ambient_scope {
 public:
  explicit ambient_scope(const context& ctx) noexcept
      : saved_(current_ambient) {
    current_ambient = reinterpret_cast<std::uintptr_t>(&ctx);
  }
  explicit ambient_scope(const context_source& source) noexcept
      : saved_(current_ambient) {
    current_ambient = reinterpret_cast<std::uintptr_t>(&source) | source_tag;
  }
  ~ambient_scope() { current_ambient = saved_; }
  ambient_scope(const ambient_scope&) = delete;
  ambient_scope& operator=(const ambient_scope&) = delete;

 private:
  std::uintptr_t saved_;
};

// context_scope is the common case: the ambient context is `ctx` itself.
using context_scope = ambient_scope;

// ambient_context_slow handles sources and the oneTBB-task fallback.
const context& ambient_context_slow(std::uintptr_t ambient) noexcept;

}  // namespace detail
}  // namespace tbbx

#endif  // TBBX_CONTEXT_DETAIL_AMBIENT_H_
