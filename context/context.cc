// SPDX-License-Identifier: Apache-2.0
#include "tbbx/context/context.h"

namespace tbbx {

using detail::context_access;

context background() noexcept { return context(); }

cancelable_context with_cancel(const context& parent) {
  detail::node* n = detail::make_cancel_node(context_access::get(parent),
                                             detail::no_deadline, nullptr);
  n->ref();  // one for the context, one for the cancel_func
  return {context_access::adopt(n), context_access::adopt_cancel(n)};
}

cancelable_context with_deadline(const context& parent,
                                 std::chrono::steady_clock::time_point d,
                                 std::exception_ptr cause) {
  detail::node* n = detail::make_cancel_node(context_access::get(parent), d,
                                             std::move(cause));
  n->ref();
  return {context_access::adopt(n), context_access::adopt_cancel(n)};
}

cancelable_context with_timeout(const context& parent,
                                std::chrono::steady_clock::duration t,
                                std::exception_ptr cause) {
  return with_deadline(parent, detail::deadline_after(t), std::move(cause));
}

context without_cancel(const context& parent) {
  return context_access::adopt(
      detail::make_detached_node(context_access::get(parent)));
}

}  // namespace tbbx
