#include "tbbx/context/context.h"

#include <condition_variable>
#include <mutex>
#include <thread>

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
  return with_deadline(parent, std::chrono::steady_clock::now() + t,
                       std::move(cause));
}

context without_cancel(const context& parent) {
  return context_access::adopt(
      detail::make_detached_node(context_access::get(parent)));
}

namespace {

// timed_waiter is a callback that lives on the waiting thread's stack;
// deregister_callback guarantees it is not running when it goes away.
struct timed_waiter : detail::callback_node {
  timed_waiter() noexcept : callback_node(&wake) {}

  static void wake(callback_node* cb) noexcept {
    auto* self = static_cast<timed_waiter*>(cb);
    std::lock_guard lock(self->mu);
    self->woken = true;
    self->cv.notify_one();
  }

  std::mutex mu;
  std::condition_variable cv;
  bool woken = false;  // guarded by mu
};

}  // namespace

bool context::wait_until(std::chrono::steady_clock::time_point t) const {
  if (done()) return true;
  detail::node* n = node_or_materialize();
  if (!n->can_end()) {
    std::this_thread::sleep_until(t);
    return false;
  }
  timed_waiter waiter;
  if (!detail::register_callback(n, &waiter)) return true;
  {
    std::unique_lock lock(waiter.mu);
    waiter.cv.wait_until(lock, t, [&] { return waiter.woken; });
  }
  detail::deregister_callback(n, &waiter);
  return done();
}

}  // namespace tbbx
