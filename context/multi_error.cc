// SPDX-License-Identifier: Apache-2.0
#include "tbbx/context/multi_error.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace tbbx {
namespace {

constexpr std::size_t kMessagesShown = 10;

void flatten_into(std::vector<std::exception_ptr>& out,
                  std::vector<std::exception_ptr>& in) {
  for (auto& e : in) {
    if (e == nullptr) continue;
    try {
      std::rethrow_exception(e);
    } catch (const multi_error& nested) {
      // Already flat: its members are never multi_errors.
      out.insert(out.end(), nested.errors().begin(), nested.errors().end());
      continue;
    } catch (...) {
    }
    out.push_back(std::move(e));
  }
}

}  // namespace

multi_error::multi_error(std::vector<std::exception_ptr> errors) {
  errors_.reserve(errors.size());
  flatten_into(errors_, errors);
  const std::size_t n = errors_.size();
  what_ = std::to_string(n) + (n == 1 ? " error: " : " errors: ");
  for (std::size_t i = 0; i < n && i < kMessagesShown; ++i) {
    if (i > 0) what_ += "; ";
    what_ += message_of(errors_[i]);
  }
  if (n > kMessagesShown) {
    what_ += "; (and " + std::to_string(n - kMessagesShown) + " more)";
  }
}

std::string multi_error::message_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "unknown exception";
  }
}

std::exception_ptr join_errors(std::vector<std::exception_ptr> errors) {
  bool any = false;
  for (const auto& e : errors) any = any || e != nullptr;
  if (!any) return nullptr;
  return std::make_exception_ptr(multi_error(std::move(errors)));
}

namespace detail {
namespace {

// object_of identifies the exception object `e` refers to: in the Itanium
// C++ ABI (libstdc++, libc++) an exception_ptr is the object's address.
const void* object_of(const std::exception_ptr& e) noexcept {
  const void* p;
  static_assert(sizeof(std::exception_ptr) == sizeof(p));
  std::memcpy(&p, static_cast<const void*>(&e), sizeof(p));
  return p;
}

}  // namespace

bool find_in_error_tree(const std::exception_ptr& root,
                        bool (*visit)(const std::exception_ptr&, void*),
                        void* state) {
  // An explicit stack: chains of nested exceptions can be long. `seen`
  // holds every exception object visited (exception_ptrs compare equal
  // when they refer to the same object), sorted for lookup.
  std::vector<std::exception_ptr> pending{root};
  std::vector<const void*> seen;
  while (!pending.empty()) {
    std::exception_ptr e = std::move(pending.back());
    pending.pop_back();
    if (e == nullptr) continue;
    const void* identity = object_of(e);
    auto at = std::lower_bound(seen.begin(), seen.end(), identity);
    if (at != seen.end() && *at == identity) continue;
    seen.insert(at, identity);
    if (visit(e, state)) return true;
    std::vector<std::exception_ptr> inner;
    try {
      std::rethrow_exception(e);
    } catch (const multi_error& m) {
      inner = m.errors();
    } catch (const std::nested_exception& n) {
      if (n.nested_ptr() != nullptr) inner.push_back(n.nested_ptr());
    } catch (...) {
    }
    // Depth first, in order: push in reverse.
    pending.insert(pending.end(), inner.rbegin(), inner.rend());
  }
  return false;
}

}  // namespace detail
}  // namespace tbbx
