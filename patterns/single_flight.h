// SPDX-License-Identifier: Apache-2.0
// single_flight: concurrent calls with the same key share one execution
// (Go's x/sync/singleflight).
//
// clang-format off
//   tbbx::single_flight<std::string, config> loads;
//   config c = loads.run("users", [] { return load_config("users"); });
// clang-format on
//
// run(key, f) runs f() unless a call with an equal key is already running;
// then it waits for that call and returns its result, or rethrows its
// exception, like every other caller of the same flight. The key is free
// again as soon as the call returns, so a later run() executes f anew
// (this is not a cache). forget(key) frees the key at once: the next run()
// starts a new execution while callers of the old one still get its
// result. run(ctx, key, f) is the same, except that a caller waiting for
// someone else's execution gives up when ctx ends and throws ctx.cause()
// (the execution goes on for the others).
//
// Value must be copyable: every caller gets its own copy. Thread-safe.
// A waiting caller inside a tbbx task suspends the task rather than holding
// its worker (context/detail/await.h). Do not have f wait, directly or
// indirectly, for a flight of the same group with the same key.
#ifndef TBBX_PATTERNS_SINGLE_FLIGHT_H_
#define TBBX_PATTERNS_SINGLE_FLIGHT_H_

#include "tbbx/context/detail/config.h"
#if TBBX_CPLUSPLUS >= 202002L  // otherwise config.h's #error is all

#include <concepts>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>

#include "tbbx/context/context.h"
#include "tbbx/context/detail/await.h"
#include "tbbx/context/detail/intrusive_list.h"

namespace tbbx {

template <class Key, class Value, class Hash = std::hash<Key>,
          class KeyEqual = std::equal_to<Key>>
  requires std::copy_constructible<Value>
class single_flight {
 public:
  single_flight() = default;
  single_flight(const single_flight&) = delete;
  single_flight& operator=(const single_flight&) = delete;

  template <class F>
    requires std::convertible_to<std::invoke_result_t<F&>, Value>
  Value run(const Key& key, F&& f) {
    return run_impl(background(), key, f);
  }

  template <class F>
    requires std::convertible_to<std::invoke_result_t<F&>, Value>
  Value run(const context& ctx, const Key& key, F&& f) {
    return run_impl(ctx, key, f);
  }

  // forget frees `key`: the next run() with it starts a new execution.
  void forget(const Key& key) {
    std::lock_guard lock(mu_);
    calls_.erase(key);
  }

  // callers is how many calls share the execution running for `key` (its
  // leader included), or 0 when none runs.
  std::size_t callers(const Key& key) const {
    std::lock_guard lock(mu_);
    auto it = calls_.find(key);
    return it == calls_.end() ? 0 : it->second->callers;
  }

  // in_flight is the number of keys with an execution running.
  std::size_t in_flight() const {
    std::lock_guard lock(mu_);
    return calls_.size();
  }

 private:
  struct waiting {
    detail::waiter wake;
    detail::list_hook<waiting> hook;  // guarded by the call's mu
  };
  struct call {
    std::mutex mu;
    bool done = false;                                        // guarded by mu
    detail::intrusive_list<waiting, &waiting::hook> waiters;  // mu
    std::size_t callers = 1;     // guarded by the group's mu_
    std::optional<Value> value;  // set before done
    std::exception_ptr error;    // set before done
  };

  template <class F>
  Value run_impl(const context& ctx, const Key& key, F& f) {
    std::unique_lock lock(mu_);
    if (auto it = calls_.find(key); it != calls_.end()) {
      std::shared_ptr<call> c = it->second;
      ++c->callers;
      lock.unlock();
      return wait_for(ctx, *c);
    }
    auto c = std::make_shared<call>();
    calls_.emplace(key, c);
    lock.unlock();
    try {
      c->value.emplace(f());
    } catch (...) {
      c->error = std::current_exception();
    }
    lock.lock();
    if (auto it = calls_.find(key); it != calls_.end() && it->second == c) {
      calls_.erase(it);  // unless forget() replaced it
    }
    lock.unlock();
    {
      std::lock_guard l(c->mu);
      c->done = true;
      for (waiting* w = c->waiters.front(); w != nullptr;
           w = decltype(c->waiters)::next(w)) {
        w->wake.notify();  // never blocks; each unlinks itself under mu
      }
    }
    if (c->error != nullptr) std::rethrow_exception(c->error);
    return *c->value;
  }

  // wait_for waits for `c`'s result, or throws ctx.cause() if ctx ends
  // first (the execution goes on for the others).
  static Value wait_for(const context& ctx, call& c) {
    std::unique_lock lock(c.mu);
    if (!c.done) {
      waiting me;
      c.waiters.push_back(&me);
      detail::await_status status;
      try {
        status = detail::await(lock, ctx, me.wake, [&] { return c.done; });
      } catch (...) {
        c.waiters.remove(&me);
        throw;
      }
      c.waiters.remove(&me);
      if (status != detail::await_status::ready) {
        lock.unlock();
        ctx.throw_if_done();
      }
    }
    lock.unlock();
    if (c.error != nullptr) std::rethrow_exception(c.error);
    return *c.value;
  }

  mutable std::mutex mu_;
  std::unordered_map<Key, std::shared_ptr<call>, Hash, KeyEqual>
      calls_;  // guarded by mu_
};

}  // namespace tbbx

#endif  // TBBX_CPLUSPLUS >= 202002L

#endif  // TBBX_PATTERNS_SINGLE_FLIGHT_H_
