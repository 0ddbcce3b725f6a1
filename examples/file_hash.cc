// SPDX-License-Identifier: Apache-2.0
// file_hash: hash every file under a directory, at most N files at a time,
// and stop everything at the first error. Go's md5all example (the
// errgroup + bounded parallelism version) written with tbbx::error_group.
//
//   file_hash [directory] [--limit N] [--fail-on TEXT]
//
// The digest is 64-bit FNV-1a (the point is the pattern, not the hash).
// --fail-on makes reading any file whose path contains TEXT fail, to show
// the first error canceling the walk and the digesters.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "tbbx/tbbx.h"

namespace fs = std::filesystem;

namespace {

// hash_file reads `path` in chunks, giving up between chunks once ctx is
// done (the group failed elsewhere).
std::uint64_t hash_file(const tbbx::context& ctx, const fs::path& path,
                        const std::string& fail_on) {
  if (!fail_on.empty() && path.string().find(fail_on) != std::string::npos) {
    throw std::runtime_error("cannot read " + path.string() +
                             ": simulated I/O error");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  std::uint64_t hash = 1469598103934665603ull;
  std::vector<char> chunk(64 * 1024);
  while (in) {
    ctx.throw_if_done();
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    for (std::streamsize i = 0; i < in.gcount(); ++i) {
      hash = (hash ^ static_cast<unsigned char>(chunk[i])) * 1099511628211ull;
    }
  }
  return hash;
}

}  // namespace

int main(int argc, char** argv) {
  fs::path root = "/usr/include/oneapi";
  int limit = 8;
  std::string fail_on;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--limit" && i + 1 < argc) {
      limit = std::stoi(argv[++i]);
    } else if (arg == "--fail-on" && i + 1 < argc) {
      fail_on = argv[++i];
    } else {
      root = arg;
    }
  }

  std::mutex mu;
  std::map<std::string, std::uint64_t> digests;  // guarded by mu
  tbbx::error_group g;
  g.set_limit(limit);  // go() blocks while `limit` files are being hashed
  std::size_t queued = 0;
  try {
    for (const auto& entry : fs::recursive_directory_iterator(root)) {
      if (g.get_context().done()) break;  // an error stopped the group
      if (!entry.is_regular_file()) continue;
      ++queued;
      g.go([&, path = entry.path()](const tbbx::context& ctx) {
        const std::uint64_t digest = hash_file(ctx, path, fail_on);
        std::lock_guard lock(mu);
        digests[path.string()] = digest;
      });
    }
    g.wait();
  } catch (const std::exception& e) {
    std::printf("file_hash: %s\n", e.what());
    std::printf("file_hash: %zu files hashed of %zu queued, %zu skipped\n",
                digests.size(), queued, g.skipped());
    return 1;
  }
  std::size_t shown = 0;
  for (const auto& [path, digest] : digests) {
    if (shown++ == 10) break;
    std::printf("%016llx  %s\n", static_cast<unsigned long long>(digest),
                path.c_str());
  }
  std::printf("file_hash: %zu files hashed under %s, at most %d at a time\n",
              digests.size(), root.c_str(), limit);
  return 0;
}
