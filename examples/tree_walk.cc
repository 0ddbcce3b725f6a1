// SPDX-License-Identifier: Apache-2.0
// tree_walk: sum the sizes under a directory with one error_group per
// directory. Nested groups are canceled with their parent, so an error in
// one corner of the tree stops the whole walk and surfaces at the root.
//
//   tree_walk [directory] [--fail-on TEXT]
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "tbbx/tbbx.h"

namespace fs = std::filesystem;

namespace {

struct totals {
  std::atomic<long long> bytes{0};
  std::atomic<long> files{0};
  std::atomic<long> directories{0};
};

// walk sums one directory: a task per subdirectory in a group nested in
// the caller's, files summed inline.
void walk(const tbbx::context& ctx, const fs::path& dir, totals& sum,
          const std::string& fail_on) {
  if (!fail_on.empty() && dir.string().find(fail_on) != std::string::npos) {
    throw std::runtime_error("cannot list " + dir.string() +
                             ": simulated permission error");
  }
  sum.directories++;
  tbbx::error_group g(ctx);  // canceled with the parent's group
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (g.get_context().done()) break;
    if (entry.is_symlink()) continue;
    if (entry.is_directory()) {
      g.go([&, sub = entry.path()](const tbbx::context& c) {
        walk(c, sub, sum, fail_on);
      });
    } else if (entry.is_regular_file()) {
      sum.files++;
      sum.bytes += static_cast<long long>(entry.file_size());
    }
  }
  g.wait();
}

}  // namespace

int main(int argc, char** argv) {
  fs::path root = "/usr/include";
  std::string fail_on;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--fail-on" && i + 1 < argc) {
      fail_on = argv[++i];
    } else {
      root = arg;
    }
  }
  totals sum;
  tbbx::error_group root_group;
  root_group.go(
      [&](const tbbx::context& ctx) { walk(ctx, root, sum, fail_on); });
  try {
    root_group.wait();
  } catch (const std::exception& e) {
    std::printf("tree_walk: %s\n", e.what());
    std::printf("tree_walk: stopped after %ld directories, %ld files\n",
                sum.directories.load(), sum.files.load());
    return 1;
  }
  std::printf("tree_walk: %s holds %lld bytes in %ld files, %ld directories\n",
              root.c_str(), sum.bytes.load(), sum.files.load(),
              sum.directories.load());
  return 0;
}
