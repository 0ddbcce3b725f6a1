// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the tbbx tests.
#ifndef TBBX_TESTS_TEST_SUPPORT_H_
#define TBBX_TESTS_TEST_SUPPORT_H_

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <latch>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tbbx::testing {

using namespace std::chrono_literals;

// run_together starts `n` threads that call f(i) at (nearly) the same
// moment, behind a latch, and joins them.
inline void run_together(int n, const std::function<void(int)>& f) {
  std::latch start(n);
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      f(i);
    });
  }
  for (auto& t : threads) t.join();
}

// eventually polls `condition` until it holds or `limit` passes; it returns
// whether it held. For asserting that something asynchronous happens, with
// a generous limit: the test does not depend on how long it takes.
template <class Condition>
bool eventually(Condition condition,
                std::chrono::steady_clock::duration limit = 10s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(100us);
  }
  return true;
}

// watchdog turns a hang into a loud failure: if it is still alive after
// `limit`, it prints what hung and aborts the process (a test that hangs
// would otherwise only meet ctest's timeout, minutes later, saying nothing).
class watchdog {
 public:
  watchdog(std::chrono::steady_clock::duration limit, std::string what)
      : what_(std::move(what)), thread_([this, limit] {
          std::unique_lock lock(mu_);
          if (!cv_.wait_for(lock, limit, [&] { return disarmed_; })) {
            std::fprintf(stderr, "watchdog: '%s' hung\n", what_.c_str());
            std::fflush(stderr);
            std::abort();
          }
        }) {}
  ~watchdog() {
    {
      std::lock_guard lock(mu_);
      disarmed_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }

 private:
  std::string what_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool disarmed_ = false;  // guarded by mu_
  std::thread thread_;
};

// spin_for busy-waits for `d` (for racing two threads at sub-scheduler
// granularity; not for synchronizing).
inline void spin_for(std::chrono::steady_clock::duration d) {
  const auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until) {
  }
}

// under_thread_sanitizer is true in TSan builds.
inline constexpr bool under_thread_sanitizer =
#if defined(__SANITIZE_THREAD__)
    true;
#else
    false;
#endif

// under_address_sanitizer is true in ASan builds.
inline constexpr bool under_address_sanitizer =
#if defined(__SANITIZE_ADDRESS__)
    true;
#else
    false;
#endif

// under_sanitizer is true in TSan/ASan builds, where timing bounds widen.
inline constexpr bool under_sanitizer =
    under_thread_sanitizer || under_address_sanitizer;

}  // namespace tbbx::testing

#endif  // TBBX_TESTS_TEST_SUPPORT_H_
