#include "tbbx/scheduler/detail/timer_service.h"

#include <cstdlib>
#include <cstring>
#include <utility>

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>
#endif

namespace tbbx::detail {
namespace {

bool realtime_allowed_by_environment() {
  const char* value = std::getenv("TBBX_TIMER_REALTIME");
  return value == nullptr || std::strcmp(value, "0") != 0;
}

// raise_timer_thread_priority makes the timer thread preempt busy threads
// when a deadline is due. Priority 1 is the lowest real-time level: enough
// to run before every ordinary thread, and below any real-time thread the
// application has of its own. Without the permission it stays ordinary.
void raise_timer_thread_priority() {
#if defined(__linux__)
  // The default 50 us slack would round every sub-millisecond hedge delay.
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  if (!realtime_allowed_by_environment()) return;
  sched_param param{};
  param.sched_priority = 1;
  pthread_setschedparam(pthread_self(), SCHED_FIFO, &param);
#endif
}

}  // namespace

timer_service& timer_service::instance() {
  // Leaked on purpose: contexts may schedule or cancel timers from static
  // destructors and detached threads after exit handlers have run.
  static timer_service* const service = [] {
    auto* s = new timer_service();
    std::atexit([] { instance().shutdown(); });
    return s;
  }();
  return *service;
}

void timer_service::schedule(timer_entry& e,
                             std::chrono::steady_clock::time_point when) {
  std::lock_guard lock(mu_);
  if (!started_) start_locked();  // may throw; nothing has changed yet
  e.when = when;
  push_locked(&e);
  if (when < sleeping_until_) {
    sleeping_until_ = when;
    wake_.notify_one();
  }
}

bool timer_service::cancel(timer_entry& e) noexcept {
  std::lock_guard lock(mu_);
  if (e.heap_index == timer_entry::not_queued) return false;
  // Removing the head only makes the thread wake early and sleep again, so
  // there is no need to notify it.
  remove_locked(e.heap_index);
  return true;
}

void timer_service::start_locked() {
  thread_ = std::thread([this] { run(); });
  started_ = true;  // only once the thread exists: a failed start can retry
}

void timer_service::shutdown() {
  {
    std::lock_guard lock(mu_);
    if (!started_ || stopping_) return;
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void timer_service::run() {
  raise_timer_thread_priority();
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (heap_.empty()) {
      sleeping_until_ = std::chrono::steady_clock::time_point::max();
      wake_.wait(lock);
      continue;
    }
    timer_entry* head = heap_.front();
    if (std::chrono::steady_clock::now() < head->when) {
      sleeping_until_ = head->when;
      wake_.wait_until(lock, sleeping_until_);
      continue;
    }
    sleeping_until_ = std::chrono::steady_clock::time_point::min();  // awake
    remove_locked(0);
    lock.unlock();
    head->fire(head);
    lock.lock();
  }
}

void timer_service::push_locked(timer_entry* e) {
  heap_.push_back(e);
  e->heap_index = heap_.size() - 1;
  sift_up(e->heap_index);
}

void timer_service::remove_locked(std::size_t index) {
  timer_entry* removed = heap_[index];
  timer_entry* last = heap_.back();
  heap_.pop_back();
  removed->heap_index = timer_entry::not_queued;
  if (removed == last) return;
  place(index, last);
  sift_up(index);
  sift_down(last->heap_index);
}

void timer_service::place(std::size_t index, timer_entry* e) {
  heap_[index] = e;
  e->heap_index = index;
}

void timer_service::sift_up(std::size_t index) {
  timer_entry* e = heap_[index];
  while (index > 0) {
    std::size_t parent = (index - 1) / 2;
    if (!(e->when < heap_[parent]->when)) break;
    place(index, heap_[parent]);
    index = parent;
  }
  place(index, e);
}

void timer_service::sift_down(std::size_t index) {
  timer_entry* e = heap_[index];
  const std::size_t size = heap_.size();
  for (;;) {
    std::size_t child = 2 * index + 1;
    if (child >= size) break;
    if (child + 1 < size && heap_[child + 1]->when < heap_[child]->when) {
      ++child;
    }
    if (!(heap_[child]->when < e->when)) break;
    place(index, heap_[child]);
    index = child;
  }
  place(index, e);
}

}  // namespace tbbx::detail
