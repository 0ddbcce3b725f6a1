// SPDX-License-Identifier: Apache-2.0
#include "tbbx/context/context.h"

namespace tbbx {

using detail::context_access;

namespace {

// cancelable makes the node behind with_cancel, with_deadline and
// with_timeout (see make_cancel_node for `now`) and its two handles.
cancelable_context cancelable(const context& parent, detail::time_point d,
                              std::exception_ptr cause,
                              detail::time_point now) {
  detail::node* n = detail::make_cancel_node(context_access::get(parent), d,
                                             std::move(cause), now);
  n->ref();  // one for the context, one for the cancel_func
  return {context_access::adopt(n), context_access::adopt_cancel(n)};
}

}  // namespace

context background() noexcept { return context(); }

cancelable_context with_cancel(const context& parent) {
  return cancelable(parent, detail::no_deadline, nullptr,
                    detail::time_point::min());
}

cancelable_context with_deadline(const context& parent,
                                 std::chrono::steady_clock::time_point d,
                                 std::exception_ptr cause) {
  return cancelable(parent, d, std::move(cause), detail::time_point::min());
}

cancelable_context with_timeout(const context& parent,
                                std::chrono::steady_clock::duration t,
                                std::exception_ptr cause) {
  // One clock read: the deadline's own. A timeout that is not positive
  // ends the context at once (as Go's WithTimeout); a positive one is
  // scheduled, however short.
  const detail::time_point now = std::chrono::steady_clock::now();
  return cancelable(parent, detail::deadline_after(now, t), std::move(cause),
                    now);
}

context without_cancel(const context& parent) {
  return context_access::adopt(
      detail::make_detached_node(context_access::get(parent)));
}

}  // namespace tbbx
