// SPDX-License-Identifier: Apache-2.0
// build_graph: a task graph run under a deadline, like a small build.
//
//   fetch ─┬─ compile a ─┬─ link ── package
//          ├─ compile b ─┤
//          └─ compile c ─┘        docs (independent)
//
// First run: everything succeeds. Second run: `compile b` fails; with
// continue_independent its descendants are skipped and `docs` still runs.
// Third run: a 5 ms deadline cuts the build short.
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tbbx/tbbx.h"

namespace {

using namespace std::chrono_literals;

void work(const tbbx::context& ctx, std::chrono::milliseconds how_long) {
  const auto until = std::chrono::steady_clock::now() + how_long;
  while (std::chrono::steady_clock::now() < until) {
    ctx.throw_if_done();  // long steps poll their context
    std::this_thread::sleep_for(200us);
  }
}

void report(const char* title, const std::vector<tbbx::task_node>& nodes) {
  std::printf("%s\n", title);
  for (const auto& n : nodes) {
    std::printf("   %-10s %s\n", n.name().c_str(),
                std::string(tbbx::to_string(n.state())).c_str());
  }
}

}  // namespace

int main() {
  bool break_b = false;
  tbbx::task_graph g;
  auto fetch =
      g.emplace([](const tbbx::context& c) { work(c, 2ms); }).name("fetch");
  auto a =
      g.emplace([](const tbbx::context& c) { work(c, 3ms); }).name("compile a");
  auto b = g.emplace([&](const tbbx::context& c) {
              work(c, 3ms);
              if (break_b) throw std::runtime_error("b.cc:12: syntax error");
            }).name("compile b");
  auto c =
      g.emplace([](const tbbx::context& c) { work(c, 3ms); }).name("compile c");
  auto link =
      g.emplace([](const tbbx::context& c) { work(c, 2ms); }).name("link");
  auto package =
      g.emplace([](const tbbx::context& c) { work(c, 1ms); }).name("package");
  auto docs =
      g.emplace([](const tbbx::context& c) { work(c, 4ms); }).name("docs");
  fetch.precede(a, b, c);
  link.succeed(a, b, c);
  link.precede(package);
  const std::vector<tbbx::task_node> all{fetch, a, b, c, link, package, docs};

  g.run(tbbx::background());
  report("1) a clean build", all);

  break_b = true;
  try {
    g.run(tbbx::background(), tbbx::failure_policy::continue_independent);
  } catch (const tbbx::multi_error& e) {
    std::printf("\n2) a failing compile, continue_independent: %s\n", e.what());
    report("", all);
  }

  break_b = false;
  tbbx::cancelable_context job = tbbx::with_timeout(tbbx::background(), 5ms);
  try {
    g.run(job.ctx);
  } catch (const tbbx::deadline_exceeded_error& e) {
    std::printf("\n3) under a 5 ms deadline: %s\n", e.what());
    report("", all);
  }
  return 0;
}
