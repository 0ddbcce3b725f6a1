// SPDX-License-Identifier: Apache-2.0
// Allocation-failure injection: every operator new on the main paths is made
// to fail once in turn (the first call, then the second, ... until a run
// completes with nothing failed). Each call must then either succeed or
// throw std::bad_alloc, leave no state dead (the objects it touched still
// work) and leak nothing (LeakSanitizer checks the ASan build at exit).
// Only allocations made by the test's own thread while a scenario is armed
// fail; tbbx's and oneTBB's threads allocate normally. One-time process
// set-up (oneTBB's market and arenas, tbbx's timer thread) is done before
// arming: oneTBB's own first initialization is not exception-safe (a
// bad_alloc inside it leaves its once-flag pending for good), and no
// per-call path depends on it.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <new>
#include <stdexcept>
#include <string>

#include "tbbx/tbbx.h"

namespace {

// -1: not armed; else the number of allocations left before one fails.
constinit thread_local long countdown = -1;
constinit thread_local long injected = 0;

void* allocate(std::size_t size, std::size_t align) {
  if (countdown == 0) {
    countdown = -1;
    ++injected;
    throw std::bad_alloc();
  }
  if (countdown > 0) --countdown;
  if (size == 0) size = 1;
  void* p = align > alignof(std::max_align_t)
                ? std::aligned_alloc(align, (size + align - 1) / align * align)
                : std::malloc(size);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

}  // namespace

void* operator new(std::size_t size) { return allocate(size, 0); }
void* operator new[](std::size_t size) { return allocate(size, 0); }
void* operator new(std::size_t size, std::align_val_t a) {
  return allocate(size, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t size, std::align_val_t a) {
  return allocate(size, static_cast<std::size_t>(a));
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return allocate(size, 0);
  } catch (...) {
    return nullptr;
  }
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }

namespace {

using namespace std::chrono_literals;
using tbbx::background;
using tbbx::context;

// every_failure runs `scenario` with its 1st, 2nd, ... allocation failing
// until it completes with none failed. The scenario returns normally or
// throws bad_alloc; `check` then verifies that nothing was left dead.
void every_failure(
    const std::function<void()>& scenario,
    const std::function<void()>& check = [] {}) {
  for (long n = 0; n < 10'000; ++n) {
    injected = 0;
    countdown = n;
    try {
      scenario();
    } catch (const std::bad_alloc&) {
      EXPECT_EQ(injected, 1) << "bad_alloc not from the injector, at " << n;
    }
    countdown = -1;
    check();
    if (injected == 0) {  // nothing left to fail
      std::fprintf(stderr, "%ld allocation sites failed in turn\n", n);
      return;
    }
    if (::testing::Test::HasFailure()) {
      ADD_FAILURE() << "with allocation " << n << " failing";
      return;
    }
  }
  ADD_FAILURE() << "the scenario never completed";
}

// warm_up does the one-time set-up outside the armed regions.
const bool warmed_up = [] {
  auto [ctx, cancel] = tbbx::with_timeout(background(), 1us);
  ctx.wait();
  (void)tbbx::hedge(background(), {.delay = 1ms},
                    [](const context&) { return 0; });
  tbbx::parallel_for(background(), 0, 10, [](int) {});
  return true;
}();

TEST(AllocFailure, Contexts) {
  ASSERT_TRUE(warmed_up);
  auto parent_c = tbbx::with_cancel(background());
  auto& parent = parent_c.ctx;
  auto& cancel = parent_c.cancel;
  static const tbbx::context_key<std::string> key("k");
  every_failure(
      [&] {
        auto [c, k] = tbbx::with_cancel(parent);
        auto [t, kt] = tbbx::with_timeout(c, 1h);
        context v = tbbx::with_value(t, key, std::string(100, 'x'));
        context d = tbbx::without_cancel(v);
        auto reg = tbbx::on_done(v, [] {});
        auto h = tbbx::after_func(v, [] {});
        k();
      },
      [&] {
        EXPECT_EQ(tbbx::detail::live_child_count(
                      tbbx::detail::context_access::get(parent)),
                  0u);
      });
  cancel();
}

TEST(AllocFailure, SemaphoreWaitsOnAGroupsContext) {
  tbbx::semaphore s(1);
  every_failure(
      [&] {
        tbbx::error_group g;  // its context's node is made by the wait
        s.acquire(background(), 1);
        g.go([&](const context& ctx) {
          try {
            s.acquire(ctx, 1);
            s.release(1);
          } catch (const tbbx::context_error&) {
          }
        });
        s.release(1);
        g.wait();
      },
      [&] {
        EXPECT_EQ(s.available(), 1);
        EXPECT_EQ(s.waiting(), 0u);
      });
}

TEST(AllocFailure, ErrorGroupsAndErrors) {
  every_failure([] {
    tbbx::error_group g(background(), {.cancel_on_error = false});
    for (int i = 0; i < 4; ++i) {
      g.go([i] {
        if (i % 2 == 0) throw std::runtime_error("task failed");
      });
    }
    try {
      g.wait_all();
    } catch (const tbbx::multi_error& e) {
      EXPECT_EQ(e.size(), 2u);
    }
    tbbx::error_collector errors;
    errors.add(std::make_exception_ptr(std::runtime_error("x")));
    (void)errors.join();
  });
}

TEST(AllocFailure, HedgeFirstOfRetrySingleFlight) {
  tbbx::single_flight<int, int> flights;
  every_failure(
      [&] {
        EXPECT_EQ(tbbx::hedge(background(), {.delay = 1ms, .max_attempts = 2},
                              [](const context&) { return 1; }),
                  1);
        EXPECT_EQ(tbbx::first_of(
                      background(), [](const context&) { return 2; },
                      [](const context&) { return 2; }),
                  2);
        EXPECT_EQ(flights.run(1, [] { return 3; }), 3);
        int calls = 0;
        EXPECT_EQ(tbbx::retry(background(), {.initial = 1us, .max = 1us},
                              [&](const context&) {
                                if (++calls < 2)
                                  throw std::runtime_error("again");
                                return 4;
                              }),
                  4);
      },
      [&] { EXPECT_EQ(flights.in_flight(), 0u); });
}

TEST(AllocFailure, TaskGraphsAndAlgorithms) {
  every_failure([] {
    tbbx::task_graph g;
    auto a = g.emplace([] {});
    auto b = g.emplace([](const context&) {});
    a.precede(b);
    g.run(background());
    std::atomic<int> n{0};
    tbbx::parallel_for(background(), 0, 100, [&](int) { n++; });
    EXPECT_EQ(n.load(), 100);
  });
}

}  // namespace
