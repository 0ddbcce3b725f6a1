#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Compiles every ```cpp block of README.md, so the docs cannot drift.

With --header FILE it also compiles FILE's usage examples: the comment lines
between `// clang-format off` and `// clang-format on` in its opening
comment (the markers that keep the formatter from reflowing them).

Each block becomes the body of its own function in one translation unit
(blocks after a `<!-- readme: namespace-scope -->` line are put at namespace
scope instead, for blocks that define functions). `#include` and
`using namespace` lines of a block go to file scope. The PRELUDE below
declares the placeholder names the blocks use (`ctx`, `work`, `record`, ...):
add one here when a new block needs it. A block fenced as ```cpp-fragment is
shown as C++ but not compiled; keep those rare.

Blocks that use `tbbx::mpi::` compile only when --mpi-include gives MPI's
include directory (the build found MPI); otherwise they are counted as
skipped, with a line saying so.

`#line` directives point diagnostics at README.md's own lines. Compile only
(-fsyntax-only), with every compiler given by --cxx.

  readme_snippets.py --readme README.md [--header context/context.h ...] \\
      --include BUILD/include --cxx g++ [--cxx clang++]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

PRELUDE = r"""
#include <tbbx/tbbx.h>

#include <cstdint>
#include <filesystem>
#include <ios>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

// Placeholders for the names README.md's blocks take as given.
namespace readme {
inline tbbx::context ctx;
inline int n = 100;
inline int jobs = 100;
inline std::vector<std::string> paths;
inline std::string url, key;
inline tbbx::arena io_arena;
struct job_t { std::int64_t bytes = 1; };
inline job_t job;
struct record {
  bool valid() const { return true; }
  bool bad() const { return false; }
};
struct bad_record : std::runtime_error {
  explicit bad_record(const record&) : std::runtime_error("bad record") {}
};
inline auto read_next = [](tbb::flow_control& fc) -> record {
  fc.stop();
  return {};
};
struct config {};
inline bool step(int) { return false; }
inline void work(int) {}
inline void poll() {}
inline void process(int) {}
inline void digest(const tbbx::context&, const std::string&) {}
inline void retry(const std::ios_base::failure&) {}
inline std::string fetch(const tbbx::context&, const std::string&) { return {}; }
inline std::string ask(const tbbx::context&, const char*) { return {}; }
inline config load_config(const std::string&) { return {}; }
inline void download() {}
inline void compile(const tbbx::context&, const char*) {}
inline void link_all() {}
inline void report_skipped(const char*) {}
// Names the header examples use.
inline tbbx::context parent;
inline std::vector<int> in(100), out(100);
inline int f(int x) { return x; }
inline void store(const record&) {}
inline std::string query;
inline std::string search(const tbbx::context&, const std::string&) { return {}; }
inline auto lookup = [](const tbbx::context&) { return 0; };
inline void run(const job_t&) {}
inline void load_input() {}
inline void fit(const tbbx::context&, int) {}
inline void merge_results() {}
inline void publish() {}
struct socket_t { void shutdown() {} };
inline socket_t socket;
inline void flush_logs() {}
inline tbb::blocked_range<int> range(0, 100);
inline auto body = [](const tbb::blocked_range<int>&) {};
inline void retry_later() {}
using path = std::filesystem::path;
inline std::vector<path> files;
inline void hash(const path&) {}
struct node { std::vector<node*> children; };
inline std::vector<node*> roots;
inline int left, right, l, r;
inline int build(int x) { return x; }
inline std::vector<double> v(100);
inline std::string ask_replica(const tbbx::context&, const char*) { return {}; }
inline tbbx::task_graph graph;
inline std::vector<std::exception_ptr> collect() { return {}; }
}  // namespace readme
"""

NAMESPACE_SCOPE = "<!-- readme: namespace-scope -->"


def blocks(readme):
    """Yields (first_line_number, lines, namespace_scope) per ```cpp block."""
    with open(readme, encoding="utf-8") as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        fence = lines[i].strip()
        if fence == "```cpp":
            scope = i > 0 and lines[i - 1].strip() == NAMESPACE_SCOPE
            start = i + 1
            j = start
            while j < len(lines) and lines[j].strip() != "```":
                j += 1
            if j == len(lines):
                sys.exit(f"{readme}:{i + 1}: unterminated ```cpp block")
            yield start + 1, lines[start:j], scope
            i = j
        i += 1


def header_blocks(header):
    """Yields (first_line_number, lines, False) per usage example of header:
    the `//` lines between clang-format off and on, before the include
    guard."""
    with open(header, encoding="utf-8") as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines) and not lines[i].startswith("#"):
        if lines[i].strip() == "// clang-format off":
            start = i + 1
            j = start
            while j < len(lines) and lines[j].strip() != "// clang-format on":
                if not lines[j].startswith("//"):
                    sys.exit(f"{header}:{j + 1}: example block is not a comment")
                j += 1
            code = [re.sub(r"^//(   )?", "", line) for line in lines[start:j]]
            yield start + 1, code, False
            i = j
        i += 1


MPI_PRELUDE = r"""
#include <tbbx/distributed/mpi.h>
namespace readme {
inline int argc = 0;
inline char** argv = nullptr;
inline tbb::blocked_range<int> my_slice(0, 100);
inline double local = 0, total = 0;
inline MPI_Comm work_comm = MPI_COMM_WORLD;
}  // namespace readme
"""


def translation_unit(readme, headers, mpi):
    head, body = [PRELUDE] + ([MPI_PRELUDE] if mpi else []), []
    count = 0
    skipped = 0
    sources = [(readme, blocks(readme))]
    sources += [(h, header_blocks(h)) for h in headers]
    for path, found in sources:
        name = os.path.abspath(path).replace("\\", "\\\\").replace('"', '\\"')
        tag = re.sub(r"\W", "_", os.path.basename(path))
        for first, lines, scope in found:
            if not mpi and any("tbbx::mpi::" in line for line in lines):
                skipped += 1
                continue
            count += 1
            code = []
            for k, line in enumerate(lines):
                if re.match(r"\s*(#include|using namespace)\b", line):
                    head.append(f'#line {first + k} "{name}"')
                    head.append(line)
                    code.append("")  # keeps the #line numbering exact
                else:
                    code.append(line)
            body.append("namespace readme {")
            if not scope:
                body.append(f"[[maybe_unused]] void {tag}_at_line_{first}() {{")
            body.append(f'#line {first} "{name}"')
            body.extend(code)
            if not scope:
                body.append("}")
            body.append("}  // namespace readme")
    return "\n".join(head + body) + "\n", count, skipped


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--readme", required=True)
    parser.add_argument("--header", action="append", default=[],
                        help="a header whose usage examples compile too")
    parser.add_argument("--include", action="append", default=[],
                        help="an include directory holding tbbx/")
    parser.add_argument("--cxx", action="append", default=[],
                        help="a compiler to check with (repeatable)")
    parser.add_argument("--mpi-include", action="append", default=[],
                        help="MPI's include directory: compile the MPI blocks")
    parser.add_argument("--keep", help="also write the generated file here")
    args = parser.parse_args()

    mpi = bool(args.mpi_include)
    source, count, skipped = translation_unit(args.readme, args.header, mpi)
    if skipped:
        print(f"readme_snippets: {skipped} tbbx::mpi blocks skipped "
              "(MPI not found by the build)")
    if count == 0:
        sys.exit(f"{args.readme}: no ```cpp blocks found")
    if args.keep:
        with open(args.keep, "w", encoding="utf-8") as f:
            f.write(source)
    failed = []
    with tempfile.TemporaryDirectory(prefix="tbbx-readme-") as tmp:
        path = os.path.join(tmp, "readme_snippets.cc")
        with open(path, "w", encoding="utf-8") as f:
            f.write(source)
        for cxx in args.cxx or ["c++"]:
            cmd = [cxx, "-std=c++20", "-fsyntax-only", "-Wall", "-Wextra",
                   "-Wno-unused-variable", "-Wno-unused-but-set-variable"]
            cmd += [f"-I{d}" for d in args.include + args.mpi_include]
            if mpi:
                cmd.append("-DOMPI_SKIP_MPICXX=1")
            cmd.append(path)
            result = subprocess.run(cmd, capture_output=True, text=True)
            status = "ok" if result.returncode == 0 else "FAILED"
            print(f"readme_snippets: {count} blocks with {cxx}: {status}")
            if result.returncode != 0:
                sys.stdout.write(result.stdout + result.stderr)
                failed.append(cxx)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
