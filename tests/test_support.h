// Helpers shared by the tbbx tests.
#ifndef TBBX_TESTS_TEST_SUPPORT_H_
#define TBBX_TESTS_TEST_SUPPORT_H_

#include <chrono>
#include <functional>
#include <latch>
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

// under_sanitizer is true in TSan/ASan builds, where timing bounds widen.
inline constexpr bool under_sanitizer =
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
    true;
#else
    false;
#endif

}  // namespace tbbx::testing

#endif  // TBBX_TESTS_TEST_SUPPORT_H_
