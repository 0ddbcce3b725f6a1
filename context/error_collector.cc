// SPDX-License-Identifier: Apache-2.0
#include "tbbx/context/error_collector.h"

#include <algorithm>
#include <utility>

#include "tbbx/context/multi_error.h"

namespace tbbx {

error_collector::~error_collector() {
  entry* e = newest_.load(std::memory_order_acquire);
  while (e != nullptr) delete std::exchange(e, e->next);
}

void error_collector::add(std::exception_ptr e) {
  if (e == nullptr) return;
  auto* fresh =
      new entry{std::move(e), newest_.load(std::memory_order_relaxed)};
  while (!newest_.compare_exchange_weak(fresh->next, fresh,
                                        std::memory_order_release,
                                        std::memory_order_relaxed)) {
  }
  size_.fetch_add(1, std::memory_order_release);
}

std::vector<std::exception_ptr> error_collector::errors() const {
  // Entries are never removed before destruction, so the list seen from
  // any head stays valid while we walk it.
  std::vector<std::exception_ptr> out;
  for (entry* e = newest_.load(std::memory_order_acquire); e != nullptr;
       e = e->next) {
    out.push_back(e->error);
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::exception_ptr error_collector::join() const {
  return join_errors(errors());
}

}  // namespace tbbx
