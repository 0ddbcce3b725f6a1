// timer_service: the one process-wide thread that fires deadlines.
//
// Every context deadline, `after`-style delay and hedge delay in tbbx is a
// `timer_entry` in one binary min-heap ordered by time. A single thread
// sleeps on a condition variable until the earliest entry is due, pops it
// and calls its `fire` function. Nobody polls: a context with a deadline
// costs one heap insertion when it is made and one removal when it is
// canceled first.
//
// Precision. With every core busy, an ordinary thread that wakes at a
// deadline can wait milliseconds for a core (measured here: 3-4 ms late in a
// quarter of trials). So the thread asks for SCHED_FIFO priority where the
// system allows it (root or CAP_SYS_NICE; set TBBX_TIMER_REALTIME=0 to opt
// out) and shrinks its timer slack to 1 ns, which makes the kernel wake it
// within tens of microseconds of the deadline. Where neither is allowed it
// runs at normal priority and stays correct, only later under load.
//
// Entries are intrusive: the service never allocates per entry. Callers own
// the storage and keep it alive until `fire` has returned or `cancel`
// returned true. `fire` runs on the timer thread without the service lock,
// so it may schedule and cancel other entries; it must be short, because
// every later deadline waits for it.
//
// The thread starts lazily on the first `schedule` and is joined by an
// atexit handler; entries still queued then never fire.
#ifndef TBBX_SCHEDULER_DETAIL_TIMER_SERVICE_H_
#define TBBX_SCHEDULER_DETAIL_TIMER_SERVICE_H_

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace tbbx::detail {

struct timer_entry {
  using fire_fn = void (*)(timer_entry*) noexcept;
  static constexpr std::size_t not_queued = SIZE_MAX;

  explicit timer_entry(fire_fn f) noexcept : fire(f) {}

  fire_fn fire;                                // set once, then read-only
  std::chrono::steady_clock::time_point when;  // written under the service lock
  std::size_t heap_index = not_queued;         // written under the service lock
};

class timer_service {
 public:
  // instance returns the process-wide service; it never dies (the thread is
  // joined at exit, the object is left for late callers).
  static timer_service& instance();

  // schedule queues `e` to fire at `when` (at once if `when` has passed).
  // `e` must not be queued already.
  void schedule(timer_entry& e, std::chrono::steady_clock::time_point when);

  // cancel removes `e` if it is still queued and returns true; then `fire`
  // will not run. It returns false if `e` was never queued or has been taken
  // to fire (its `fire` may be running on the timer thread right now).
  bool cancel(timer_entry& e) noexcept;

  timer_service(const timer_service&) = delete;
  timer_service& operator=(const timer_service&) = delete;

 private:
  timer_service() = default;
  ~timer_service() = default;

  void run();
  void shutdown();
  void start_locked();
  void push_locked(timer_entry* e);
  void remove_locked(std::size_t index);
  void sift_up(std::size_t index);
  void sift_down(std::size_t index);
  void place(std::size_t index, timer_entry* e);

  mutable std::mutex mu_;
  std::condition_variable wake_;    // signaled when the earliest entry changes
  std::vector<timer_entry*> heap_;  // guarded by mu_
  // When the thread will wake by itself (max while it waits with no
  // entry); schedule() signals it only for an earlier entry, so a stream of
  // far-off timeouts that are canceled first costs no wake-ups.
  std::chrono::steady_clock::time_point sleeping_until_ =
      std::chrono::steady_clock::time_point::max();  // guarded by mu_
  bool started_ = false;                             // guarded by mu_
  bool stopping_ = false;                            // guarded by mu_
  std::thread thread_;  // started under mu_, joined at exit
};

}  // namespace tbbx::detail

#endif  // TBBX_SCHEDULER_DETAIL_TIMER_SERVICE_H_
