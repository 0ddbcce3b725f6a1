// SPDX-License-Identifier: Apache-2.0
// The progress agent: one thread per process that polls every session's
// control communicator. See session_state.h for the protocol and locking.
#include <dirent.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tbbx/context/detail/futex.h"
#include "tbbx/context/detail/node.h"
#include "tbbx/context/detail/pi_lock.h"
#include "tbbx/context/detail/thread_role.h"
#include "tbbx/context/detail/timer_service.h"
#include "tbbx/context/multi_error.h"
#include "tbbx/distributed/detail/session_state.h"

namespace tbbx::mpi::detail {
namespace {

using clock = std::chrono::steady_clock;
using std::chrono::microseconds;

// While something can only be found by polling (see run()), after activity
// the agent polls without sleeping for kSpinWindow, then sleeps kMinSleep,
// doubling up to the cap (TBBX_MPI_POLL_CAP_US, default 100 us); else it
// sleeps until rung, kBackstop at most. A local end wakes it at once
// (agent_wake).
constexpr clock::duration kSpinWindow = microseconds(20);
constexpr clock::duration kMinSleep = microseconds(5);
// The longest sleep when every peer rings (all on this host): only a
// backstop, in case a ring is lost.
constexpr clock::duration kBackstop = std::chrono::milliseconds(20);
// After a ring, poll at the cap for this long.
constexpr clock::duration kAfterRing = std::chrono::milliseconds(5);
// A doorbell counts rings in its low 16 bits and local wakes (agent_wake:
// a session registered, a local end to send) above them, so that the agent
// tells them apart: only a ring announces a message that may not be in
// yet. Treating a local wake as a ring made every agent poll at the cap
// for kAfterRing after each session's registration, when a cancel often
// comes: ~20 SCHED_FIFO wake-ups per ms (4 ranks on 2 cores) preempting
// the normal-priority canceling thread between its end and its
// agent_wake, and with every core busy a preempted thread may wait a
// whole round of time slices for its core again: cancel reach p99 ~10 ms
// (busy p99 1.9-6.8 ms, now ~1.4 ms).
constexpr std::uint32_t kRingMask = 0xffff;
constexpr std::uint32_t kLocalWake = kRingMask + 1;

clock::duration poll_cap() {
  if (const char* v = std::getenv("TBBX_MPI_POLL_CAP_US")) {
    const long us = std::atol(v);
    if (us > 0) return microseconds(us);
  }
  return microseconds(100);
}

// Doorbells. Each agent sleeps on a 32-bit word in a shared-memory page
// of its own, /dev/shm/tbbx-mpi.<pid>; a rank on the same host that sends
// a cancel bumps that word and wakes it (a shared futex), so a cancel
// crosses a host in one wake-up instead of a poll interval. Ranks on other
// hosts are found by polling, every TBBX_MPI_POLL_CAP_US at most. Without
// the page (no /dev/shm), the agent falls back to polling alone.
std::string doorbell_name(long pid) {
  return "/tbbx-mpi." + std::to_string(pid);
}

std::atomic<std::uint32_t>* map_doorbell(long pid, bool create) {
  const std::string name = doorbell_name(pid);
  const int fd = ::shm_open(
      name.c_str(), create ? (O_RDWR | O_CREAT | O_TRUNC) : O_RDWR, 0600);
  if (fd < 0) return nullptr;
  if (create && ::ftruncate(fd, 64) != 0) {
    ::close(fd);
    ::shm_unlink(name.c_str());
    return nullptr;
  }
  void* p = ::mmap(nullptr, 64, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) return nullptr;
  return static_cast<std::atomic<std::uint32_t>*>(p);
}

// remove_stale_doorbells unlinks the doorbells of processes that no longer
// exist (a rank killed by MPI_Abort or a signal never unlinks its own).
void remove_stale_doorbells() noexcept {
  DIR* d = ::opendir("/dev/shm");
  if (d == nullptr) return;
  while (const dirent* e = ::readdir(d)) {
    long pid = 0;
    if (std::sscanf(e->d_name, "tbbx-mpi.%ld", &pid) != 1 || pid <= 0) continue;
    if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
      ::shm_unlink(doorbell_name(pid).c_str());
    }
  }
  ::closedir(d);
}

// Shared (not process-private) futex calls, for words in shared memory.
void shared_futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected,
                       clock::duration timeout) noexcept {
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(timeout).count();
  timespec ts{static_cast<time_t>(ns / 1'000'000'000),
              static_cast<long>(ns % 1'000'000'000)};
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAIT,
            expected, &ts, nullptr, 0);
}
void shared_futex_wake(std::atomic<std::uint32_t>* word) noexcept {
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAKE, 1,
            nullptr, nullptr, 0);
}

bool realtime_wanted() {
  const char* v = std::getenv("TBBX_MPI_REALTIME");
  return v == nullptr || std::strcmp(v, "0") != 0;
}

class agent {
 public:
  void add(session_state* s) {
    {
      std::lock_guard<tbbx::detail::pi_lock> g(lock_);
      sessions_.push_back(s);
      if (!started_) start_locked();
      wake();
    }
    // Map the peers' doorbells now, so that a cancel's ring makes no
    // system call but the wake-up.
    for (long pid : s->local_pids) {
      if (pid != 0) (void)bell_of(pid);
    }
  }
  void start() {
    std::lock_guard<tbbx::detail::pi_lock> g(lock_);
    if (!started_) start_locked();
  }
  void remove(session_state* s) noexcept {
    std::lock_guard<tbbx::detail::pi_lock> g(lock_);
    sessions_.erase(std::remove(sessions_.begin(), sessions_.end(), s),
                    sessions_.end());
  }
  void wake() noexcept {
    std::atomic<std::uint32_t>* w = word();
    w->fetch_add(kLocalWake, std::memory_order_release);
    if (w == &wake_seq_) {
      tbbx::detail::futex_wake(wake_seq_);
    } else {
      shared_futex_wake(w);
    }
  }
  // ring wakes the agent of process `pid` on this host.
  void ring(long pid) noexcept {
    std::atomic<std::uint32_t>* w = bell_of(pid);
    if (w == nullptr) return;
    w->fetch_add(1, std::memory_order_release);  // one ring (kRingMask)
    shared_futex_wake(w);
  }
  // stop joins the thread; called inside MPI_Finalize.
  void stop() noexcept {
    std::thread t;
    {
      std::lock_guard<tbbx::detail::pi_lock> g(lock_);
      stop_.store(true, std::memory_order_release);
      t = std::move(thread_);
      started_ = false;
    }
    wake();
    if (t.joinable()) t.join();
    stop_.store(false, std::memory_order_relaxed);
    // The thread is gone: retire the doorbells (the words stay mapped, as
    // a racing ring() may still touch them; only the names go).
    if (own_bell_ != nullptr) {
      ::shm_unlink(doorbell_name(::getpid()).c_str());
      own_bell_.store(nullptr, std::memory_order_release);
    }
    std::lock_guard<tbbx::detail::pi_lock> g(bells_lock_);
    bells_.clear();
  }
  bool realtime() const noexcept {
    return realtime_.load(std::memory_order_acquire);
  }

 private:
  static int on_finalize(MPI_Comm, int, void*, void*) {
    instance().stop();
    return MPI_SUCCESS;
  }

  void start_locked() {
    // MPI_Finalize deletes MPI_COMM_SELF's attributes first: the agent
    // stops there, before any communicator is gone.
    int keyval = MPI_KEYVAL_INVALID;
    MPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, &agent::on_finalize, &keyval,
                           nullptr);
    MPI_Comm_set_attr(MPI_COMM_SELF, keyval, nullptr);
    MPI_Comm_free_keyval(&keyval);
    cap_ = poll_cap();
    // The deferred runner takes what the agent must not do (see run()).
    tbbx::detail::timer_service::instance().start();
    remove_stale_doorbells();
    own_bell_.store(map_doorbell(::getpid(), /*create=*/true),
                    std::memory_order_release);
    thread_ = std::thread([this] { run(); });
    started_ = true;
  }

  void apply_policy() noexcept {
    sched_param p{};
    bool rt = false;
    if (realtime_wanted()) {
      p.sched_priority = 1;
      rt = pthread_setschedparam(pthread_self(), SCHED_FIFO, &p) == 0;
    }
    if (!rt) {
      p.sched_priority = 0;
      pthread_setschedparam(pthread_self(), SCHED_OTHER, &p);
    }
    realtime_.store(rt, std::memory_order_release);
  }

  // bell_of is the doorbell of process `pid` on this host, mapped on
  // first use; null if it cannot be mapped (that agent is found by
  // polling).
  std::atomic<std::uint32_t>* bell_of(long pid) noexcept {
    std::lock_guard<tbbx::detail::pi_lock> g(bells_lock_);
    auto it = bells_.find(pid);
    if (it != bells_.end()) return it->second;
    try {
      std::atomic<std::uint32_t>* w = map_doorbell(pid, /*create=*/false);
      if (w != nullptr) bells_.emplace(pid, w);
      return w;
    } catch (...) {
      return nullptr;
    }
  }

  std::atomic<std::uint32_t>* word() noexcept {
    std::atomic<std::uint32_t>* b = own_bell_.load(std::memory_order_acquire);
    return b != nullptr ? b : &wake_seq_;
  }

  void run() noexcept {
    pthread_setname_np(pthread_self(), "tbbx-mpi");
    // The agent keeps the timer thread's discipline (thread_role.h): it may
    // run at real-time priority, so ending a context here never calls into
    // oneTBB or user code (whose locks spin: a real-time thread spinning on
    // a lock held by a preempted normal thread stalled a job ~1 s in one
    // run of three before this), never spins on a pi_lock and never frees
    // a node; those go to the deferred runner, a normal-priority thread.
    tbbx::detail::current_thread_role = tbbx::detail::thread_role::timer;
    apply_policy();
    std::atomic<std::uint32_t>* const w = word();
    clock::time_point last_activity = clock::now();
    clock::duration sleep = kMinSleep;
    clock::time_point fast_until{};
    for (;;) {
      const std::uint32_t seq = w->load(std::memory_order_acquire);
      if (stop_.load(std::memory_order_acquire)) break;
      bool activity = false;
      bool any = false;
      // Whether only polling finds what may come: a peer on another host
      // (it does not ring), a ring whose message is not in yet, or the
      // completion of our own sends.
      bool polling = false;
      // The longest this agent may sleep: the poll cap when polling, else
      // a backstop.
      clock::duration cap = kBackstop;
      {
        std::lock_guard<tbbx::detail::pi_lock> g(lock_);
        const clock::time_point now = clock::now();
        for (session_state* s : sessions_) {
          activity |= poll(*s, now, polling);
          if (!s->all_local || w == &wake_seq_) polling = true;
          if (s->ctx.done() &&
              s->options.abort_grace > clock::duration::zero()) {
            cap = std::min(cap, clock::duration(std::chrono::milliseconds(10)));
          }
        }
        any = !sessions_.empty();
      }
      const clock::time_point now = clock::now();
      if (activity) {
        // A ring is answered by the message it announced (a local wake by
        // the sends it asked for): nothing more is on its way.
        last_activity = now;
        sleep = kMinSleep;
        fast_until = clock::time_point{};
      }
      if (now < fast_until) polling = true;
      if (polling) cap = std::min(cap, cap_);
      if (!any) {
        if (w == &wake_seq_) {
          tbbx::detail::futex_wait(wake_seq_, seq);
        } else {
          shared_futex_wait(w, seq, std::chrono::seconds(1));
        }
        continue;
      }
      if (!polling) {
        // Every message comes with a ring: sleep the cap at once. Spinning
        // and backing off from kMinSleep here kept the agents of 4 ranks
        // on 2 cores so busy after a cancel that the normal-priority
        // threads it wakes (waiters, the deferred runner) waited ~1 ms
        // for a core.
        sleep = cap;
      } else if (now - last_activity < kSpinWindow) {
        continue;
      } else {
        sleep = std::min(sleep, cap);
      }
      if (w == &wake_seq_) {
        tbbx::detail::futex_wait(wake_seq_, seq, now + sleep);
      } else {
        shared_futex_wait(w, seq, sleep);
      }
      const std::uint32_t after = w->load(std::memory_order_acquire);
      if (after != seq) {
        // Rung or woken: poll at once and spin a while. Rung: a message is
        // here or on its way; poll often until it is in (at most
        // kAfterRing) even if all peers ring. (kRingMask wraps only after
        // 65536 rings in one sleep.)
        last_activity = clock::now();
        if (((after - seq) & kRingMask) != 0) {
          fast_until = last_activity + kAfterRing;
        }
        sleep = kMinSleep;
      } else {
        sleep = std::min(sleep * 2, cap);
      }
    }
  }

  // poll sends s's pending cancel, receives its cancel messages and
  // watches its grace. Returns whether anything happened; sets `driving`
  // if s's sends are not out yet (only polls complete them).
  static bool poll(session_state& s, clock::time_point now,
                   bool& driving) noexcept {
    bool activity = false;
    if (s.origin.load(std::memory_order_acquire) == s.rank) {
      std::lock_guard<tbbx::detail::pi_lock> g(s.lock);
      if (s.send_cancel_locked()) activity = true;
      // If send_cancel_locked gave up on the sends, drive them until they
      // are out (the receivers were rung before their message was there),
      // then ring again.
      if (s.sent && !s.sends_out && !s.closing) {
        int out = 1;
        if (!s.sends.empty()) {
          MPI_Testall(static_cast<int>(s.sends.size()), s.sends.data(), &out,
                      MPI_STATUSES_IGNORE);
        }
        if (out) {
          s.sends_out = true;
          agent_ring(s);
        } else {
          driving = true;
        }
        activity = true;
      }
    }
    for (;;) {
      int flag = 0;
      MPI_Message msg;
      MPI_Status st;
      MPI_Improbe(MPI_ANY_SOURCE, kCancelTag, s.comm, &flag, &msg, &st);
      if (!flag) break;
      int count = 0;
      MPI_Get_count(&st, MPI_CHAR, &count);
      std::vector<char> buf(static_cast<std::size_t>(std::max(count, 1)));
      MPI_Mrecv(buf.data(), count, MPI_CHAR, &msg, MPI_STATUS_IGNORE);
      const int src = st.MPI_SOURCE;
      s.received[static_cast<std::size_t>(src)] = 1;
      activity = true;
      int expected = -1;
      if (s.origin.compare_exchange_strong(expected, src,
                                           std::memory_order_acq_rel)) {
        // On this thread (role "timer", see run()) cancel_node only marks
        // the subtree done and wakes tbbx's own waiters; on_done callbacks
        // and oneTBB cancellation go to the deferred runner.
        try {
          const wire_error w = decode(buf.data(), count);
          const errc e = w.kind == cause_kind::deadline
                             ? errc::deadline_exceeded
                             : errc::canceled;
          std::exception_ptr cause = rebuild(src, w);
          {
            std::lock_guard<tbbx::detail::pi_lock> g(s.lock);
            s.remote_cause = cause;
          }
          tbbx::detail::cancel_node(s.node, e, std::move(cause));
        } catch (...) {  // bad_alloc: end it anyway, with a plain cause
          tbbx::detail::cancel_node(s.node, errc::canceled, nullptr);
        }
      }
    }
    if (s.ctx.done()) {
      if (s.ended_at == clock::time_point{}) {
        s.ended_at = now;
      } else if (s.options.abort_grace > clock::duration::zero() &&
                 !s.reached_end.load(std::memory_order_acquire) &&
                 now - s.ended_at >= s.options.abort_grace) {
        escalate(s, now);
      }
    }
    return activity;
  }

  [[noreturn]] static void escalate(session_state& s,
                                    clock::time_point now) noexcept {
    std::string cause = "unknown";
    try {
      cause = multi_error::message_of(s.ctx.cause());
    } catch (...) {
    }
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now - s.ended_at)
            .count();
    std::fprintf(stderr,
                 "tbbx::mpi: rank %d: the session ended %lld ms ago (cause: "
                 "%s) and this rank has not reached its end within "
                 "abort_grace; calling MPI_Abort\n",
                 s.rank, static_cast<long long>(ms), cause.c_str());
    std::fflush(stderr);
    MPI_Abort(s.comm, 70);
    std::abort();
  }

 public:
  static agent& instance() {
    static agent* a = new agent;  // never destroyed: MPI_Finalize stops it
    return *a;
  }

 private:
  tbbx::detail::pi_lock lock_;
  std::vector<session_state*> sessions_;  // guarded by lock_
  std::thread thread_;                    // guarded by lock_
  bool started_ = false;                  // guarded by lock_
  clock::duration cap_{};                 // written before the thread starts
  std::atomic<bool> stop_{false};
  std::atomic<bool> realtime_{false};
  // The thread sleeps on its doorbell, or on wake_seq_ without one.
  std::atomic<std::uint32_t> wake_seq_{0};
  std::atomic<std::atomic<std::uint32_t>*> own_bell_{nullptr};
  tbbx::detail::pi_lock bells_lock_;
  std::map<long, std::atomic<std::uint32_t>*> bells_;  // bells_lock_
};

}  // namespace

void agent_start() { agent::instance().start(); }
void agent_register(session_state* s) { agent::instance().add(s); }
void agent_unregister(session_state* s) noexcept {
  agent::instance().remove(s);
}
void agent_wake() noexcept { agent::instance().wake(); }
void agent_ring(const session_state& s) noexcept {
  for (long pid : s.local_pids) {
    if (pid != 0) agent::instance().ring(pid);
  }
}
bool agent_realtime() noexcept { return agent::instance().realtime(); }

}  // namespace tbbx::mpi::detail
