// SPDX-License-Identifier: Apache-2.0
// Memory per live context, counted at the allocator: this program replaces
// the global operator new/delete with counting ones (malloc_usable_size:
// what the allocator really hands out, not only what was asked for), so it
// is a program of its own and the other benchmarks stay uninstrumented.
//
//   BytesPerNode/{with_cancel,with_timeout,with_timeout_cause}  bytes
//        allocated per live child over 10^6 children of one parent
//        (counter bytes_per_node), beside sizeof the node (node_sizeof).
//   BytesPerNode_StopSource  the std peer: a std::stop_source child of a
//        parent token, kept by a std::stop_callback (what cancel-tree code
//        with the standard library looks like).
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <new>
#include <optional>
#include <stop_token>
#include <vector>

#include "tbbx/context/detail/node.h"
#include "tbbx/tbbx.h"

namespace {

std::atomic<long long> live_bytes{0};

void* counted_alloc(std::size_t size, std::size_t align) {
  void* p = align <= alignof(std::max_align_t)
                ? std::malloc(size == 0 ? 1 : size)
                : std::aligned_alloc(align, (size + align - 1) / align * align);
  if (p == nullptr) throw std::bad_alloc();
  live_bytes.fetch_add(static_cast<long long>(malloc_usable_size(p)),
                       std::memory_order_relaxed);
  return p;
}

void counted_free(void* p) noexcept {
  if (p == nullptr) return;
  live_bytes.fetch_sub(static_cast<long long>(malloc_usable_size(p)),
                       std::memory_order_relaxed);
  std::free(p);
}

constexpr std::size_t kMillion = 1'000'000;

enum kind { cancel = 0, timeout = 1, timeout_cause = 2 };

void BM_BytesPerNode(benchmark::State& state) {
  const auto k = static_cast<kind>(state.range(0));
  const auto cause = std::make_exception_ptr(std::runtime_error("slow"));
  double bytes = 0;
  for (auto _ : state) {
    auto [parent, cancel_parent] = tbbx::with_cancel(tbbx::background());
    std::vector<tbbx::cancelable_context> children;
    children.reserve(kMillion);
    const long long before = live_bytes.load();
    for (std::size_t i = 0; i < kMillion; ++i) {
      using namespace std::chrono_literals;
      children.push_back(k == cancel ? tbbx::with_cancel(parent)
                         : k == timeout
                             ? tbbx::with_timeout(parent, 1h)
                             : tbbx::with_timeout(parent, 1h, cause));
    }
    bytes = static_cast<double>(live_bytes.load() - before) / kMillion;
  }
  state.counters["bytes_per_node"] = bytes;
  state.counters["node_sizeof"] =
      static_cast<double>(sizeof(tbbx::detail::node));
  state.SetLabel(k == cancel    ? "with_cancel"
                 : k == timeout ? "with_timeout"
                                : "with_timeout+cause");
}
BENCHMARK(BM_BytesPerNode)
    ->ArgName("kind")
    ->Arg(cancel)
    ->Arg(timeout)
    ->Arg(timeout_cause)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

void BM_BytesPerNode_StopSource(benchmark::State& state) {
  struct child {
    std::stop_source source;
    std::optional<std::stop_callback<std::function<void()>>> link;
  };
  double bytes = 0;
  for (auto _ : state) {
    std::stop_source parent;
    std::vector<std::unique_ptr<child>> children;
    children.reserve(kMillion);
    const long long before = live_bytes.load();
    for (std::size_t i = 0; i < kMillion; ++i) {
      auto c = std::make_unique<child>();
      c->link.emplace(parent.get_token(),
                      [s = c->source]() mutable { s.request_stop(); });
      children.push_back(std::move(c));
    }
    bytes = static_cast<double>(live_bytes.load() - before) / kMillion;
  }
  state.counters["bytes_per_node"] = bytes;
}
BENCHMARK(BM_BytesPerNode_StopSource)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace

void* operator new(std::size_t size) { return counted_alloc(size, 0); }
void* operator new[](std::size_t size) { return counted_alloc(size, 0); }
void* operator new(std::size_t size, std::align_val_t a) {
  return counted_alloc(size, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t size, std::align_val_t a) {
  return counted_alloc(size, static_cast<std::size_t>(a));
}
void operator delete(void* p) noexcept { counted_free(p); }
void operator delete[](void* p) noexcept { counted_free(p); }
void operator delete(void* p, std::size_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::size_t) noexcept { counted_free(p); }
void operator delete(void* p, std::align_val_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { counted_free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  counted_free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  counted_free(p);
}

BENCHMARK_MAIN();
