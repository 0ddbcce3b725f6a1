// SPDX-License-Identifier: Apache-2.0
#include "tbbx/context/detail/deferred.h"

#include <mutex>
#include <system_error>

#include "tbbx/context/detail/futex.h"
#include "tbbx/context/detail/node.h"
#include "tbbx/context/detail/service_thread.h"
#include "tbbx/context/detail/thread_role.h"

namespace tbbx::detail {

namespace {
std::mutex start_mu;  // serializes start(); never taken by the timer thread
}  // namespace

deferred_runner& deferred_runner::instance() {
  // Leaked on purpose, with its thread: deadlines may fire, and their
  // callbacks run, during static destruction and after exit handlers.
  static deferred_runner* const runner = new deferred_runner();
  return *runner;
}

void deferred_runner::start() {
  if (started_.load(std::memory_order_acquire)) return;
  std::lock_guard lock(start_mu);
  if (started_.load(std::memory_order_relaxed)) return;
  start_service_thread(
      "tbbx-deferred", /*realtime=*/false,
      [](void* self) { static_cast<deferred_runner*>(self)->run(); }, this);
  started_.store(true, std::memory_order_release);
}

void deferred_runner::after_fork_in_child() noexcept {
  started_.store(false, std::memory_order_relaxed);
}

void deferred_runner::signal() noexcept {
  pushes_.fetch_add(1, std::memory_order_release);
  futex_wake(pushes_);
}

void deferred_runner::push_node(node* n) noexcept {
  tree_node* head = nodes_.load(std::memory_order_relaxed);
  do {
    n->chain_next() = head;
  } while (!nodes_.compare_exchange_weak(head, n, std::memory_order_release,
                                         std::memory_order_relaxed));
  signal();
}

void deferred_runner::push_timer(timer_entry* e) noexcept {
  timer_entry* head = timers_.load(std::memory_order_relaxed);
  do {
    e->hook.next = head;
  } while (!timers_.compare_exchange_weak(head, e, std::memory_order_release,
                                          std::memory_order_relaxed));
  signal();
}

void deferred_runner::run() noexcept {
  current_thread_role = thread_role::deferred_runner;
  for (;;) {
    const std::uint32_t seen = pushes_.load(std::memory_order_acquire);
    tree_node* nodes = nodes_.exchange(nullptr, std::memory_order_acquire);
    timer_entry* timers = timers_.exchange(nullptr, std::memory_order_acquire);
    if (nodes == nullptr && timers == nullptr) {
      futex_wait(pushes_, seen);
      continue;
    }
    // The stacks hold the newest first: reverse them, to run in order.
    tree_node* ordered_nodes = nullptr;
    while (nodes != nullptr) {
      tree_node* next = nodes->chain_next();
      nodes->chain_next() = ordered_nodes;
      ordered_nodes = nodes;
      nodes = next;
    }
    timer_entry* ordered_timers = nullptr;
    while (timers != nullptr) {
      timer_entry* next = timers->hook.next;
      timers->hook.next = ordered_timers;
      ordered_timers = timers;
      timers = next;
    }
    while (ordered_timers != nullptr) {
      timer_entry* e = ordered_timers;
      ordered_timers = e->hook.next;
      e->hook.next = nullptr;
      e->fire(e);  // may free e
    }
    while (ordered_nodes != nullptr) {
      tree_node* n = ordered_nodes;
      ordered_nodes = n->chain_next();
      n->chain_next() = nullptr;
      run_deferred_node(static_cast<node*>(n));  // may free n
    }
  }
}

}  // namespace tbbx::detail
