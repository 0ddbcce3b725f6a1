// SPDX-License-Identifier: Apache-2.0
#include "tbbx/context/detail/chaos.h"

#if defined(TBBX_CHAOS) && TBBX_CHAOS

#include <chrono>
#include <cstdint>
#include <random>
#include <thread>

#include "tbbx/context/detail/thread_role.h"

namespace tbbx::detail {

namespace {

std::minstd_rand& this_thread_rng() noexcept {
  thread_local std::minstd_rand rng(static_cast<std::uint32_t>(
      std::hash<std::thread::id>{}(std::this_thread::get_id())));
  return rng;
}

}  // namespace

void chaos_point() noexcept {
  // The timer thread is exempt: perturbing it would only measure the
  // perturbation, and its rule is never to wait on others.
  if (this_thread_role() == thread_role::timer) return;
  std::minstd_rand& rng = this_thread_rng();
  const std::uint32_t r = rng() % 1000;
  if (r < 880) return;
  if (r < 990) {
    std::this_thread::yield();
    return;
  }
  std::this_thread::sleep_for(std::chrono::microseconds(1 + rng() % 50));
}

bool chaos_refuse() noexcept {
  if (this_thread_role() == thread_role::timer) return false;
  return this_thread_rng()() % 4 == 0;
}

}  // namespace tbbx::detail

#endif
