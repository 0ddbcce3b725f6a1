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
  // The count lives in the entry, so that size() and errors() read one
  // head and agree (a separate counter bumped after the push let errors()
  // see an entry that size() did not count yet).
  auto* fresh =
      new entry{std::move(e), newest_.load(std::memory_order_acquire), 0};
  do {
    fresh->count = fresh->next != nullptr ? fresh->next->count + 1 : 1;
  } while (!newest_.compare_exchange_weak(fresh->next, fresh,
                                          std::memory_order_acq_rel,
                                          std::memory_order_acquire));
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
