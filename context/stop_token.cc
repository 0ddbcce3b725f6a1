// SPDX-License-Identifier: Apache-2.0
#include "tbbx/context/stop_token.h"

#include <atomic>
#include <optional>
#include <utility>

namespace tbbx {
namespace {

using detail::callback_node;
using detail::context_access;
using detail::node;

// cancellation_node is where ending `n` is observed: a value node ends
// exactly when its parent does, so its callbacks go on the nearest node
// that is not a value node (and with_value chains keep no registration).
node* cancellation_node(node* n) noexcept {
  while (n->own_kind() == node::kind::value) {
    n = const_cast<node*>(n->parent());
  }
  return n;
}

// stop_link requests stop on its source when its node ends, then frees
// itself. It holds a reference on the node so that the node, and so its
// callback list, outlive the registration; the node ends eventually (see
// the header), and then the link goes.
struct stop_link final : callback_node {
  explicit stop_link(node* owner) noexcept : callback_node(&fire), n(owner) {}

  // Not timer-safe: request_stop runs the token's std::stop_callbacks,
  // user code. On a deadline it runs on the deferred runner.
  static void fire(callback_node* cb) noexcept {
    auto* self = static_cast<stop_link*>(cb);
    node* owner = self->n;
    self->source.request_stop();
    delete self;
    owner->unref();  // the ending thread holds its own reference meanwhile
  }

  std::stop_source source;  // set at construction, then only request_stop
  node* const n;            // holds a reference
};

// stop_watch cancels its node when the token's stop is requested, and is
// freed when the node ends, whoever ends it. `n` holds a reference; it
// is taken exactly once, by whichever of the two comes first:
//  - the stop callback (on the requesting thread) takes it, cancels and
//    drops it, touching nothing of the watch after the cancel (the cancel
//    runs on_ended, which may free the watch on this very thread);
//  - on_ended (on the ending thread) takes it if still there, destroys the
//    std::stop_callback (which waits for a stop callback running on another
//    thread: that one's cancel never waits for this thread's callbacks,
//    since a cancel waits only for the marking of the subtree, done before
//    callbacks run), frees the watch, and drops the reference.
struct stop_watch final : callback_node {
  struct on_stop {
    stop_watch* self;
    void operator()() const noexcept {
      node* owner = self->n.exchange(nullptr, std::memory_order_acq_rel);
      if (owner == nullptr) return;  // the node ended first
      detail::cancel_node(owner, errc::canceled, nullptr);
      owner->unref();
    }
  };

  explicit stop_watch(node* owner) noexcept
      : callback_node(&on_ended), n(owner) {}

  static void on_ended(callback_node* cb) noexcept {
    auto* self = static_cast<stop_watch*>(cb);
    node* owner = self->n.exchange(nullptr, std::memory_order_acq_rel);
    self->callback.reset();  // waits for a stop callback on another thread
    delete self;
    if (owner != nullptr) owner->unref();
  }

  std::atomic<node*> n;  // holds a reference until taken (see above)
  std::optional<std::stop_callback<on_stop>> callback;  // set once, before
                                                        // registration
};

}  // namespace

std::stop_token get_stop_token(const context& ctx) {
  if (ctx.done()) {
    std::stop_source ended;
    ended.request_stop();
    return ended.get_token();
  }
  node* n = cancellation_node(context_access::get(ctx));
  if (!n->can_end()) return {};
  auto* link = new stop_link(n);
  n->ref();
  std::stop_token token = link->source.get_token();
  if (!detail::register_callback(n, link)) stop_link::fire(link);  // ended
  return token;
}

cancelable_context with_stop_token(const context& parent, std::stop_token st) {
  cancelable_context child = with_cancel(parent);
  if (!st.stop_possible() || child.ctx.done()) return child;
  node* n = context_access::get(child.ctx);
  auto* watch = new stop_watch(n);
  n->ref();
  // The stop callback first: it may run at once, here, if stop was
  // requested already, or on another thread from now on. on_ended cannot
  // run before the registration below, so `callback` is set by then.
  watch->callback.emplace(std::move(st), stop_watch::on_stop{watch});
  if (!detail::register_callback(n, watch)) stop_watch::on_ended(watch);
  // From here on the watch may be freed at any moment: not touched again.
  return child;
}

}  // namespace tbbx
