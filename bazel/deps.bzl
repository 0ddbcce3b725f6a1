# SPDX-License-Identifier: Apache-2.0
"""Repositories a workspace needs to build @tbbx//:tbbx (Bazel 4, offline).

In the consumer's WORKSPACE:

    local_repository(name = "tbbx", path = "/path/to/tbbx")

    load("@tbbx//bazel:deps.bzl", "tbbx_dependencies")

    tbbx_dependencies()

Each repository is declared only if the workspace has not declared it
already, so a consumer keeps its own rules_cc, rules_java or @tbb:
  rules_cc, rules_java, remote_coverage_tools  tbbx's offline stand-ins
      (third_party/bazel): Bazel 4.2.3 would otherwise download them.
  tbb  oneTBB as installed on the system (Debian: libtbb-dev). The library
      directory is found, not assumed: the compiler's multiarch directory
      (`cc -print-multiarch`), then lib64, lib, under /usr and /usr/local.
      Set TBB_ROOT to use another prefix (with include/ and lib/ or lib64/).
      A consumer's own @tbb must provide the target @tbb//:tbb.

tbbx needs C++20. Bazel 4 has no way for a cc_library to pass -std to its
dependents, so the consumer's .bazelrc needs:

    build --cxxopt=-std=c++20 --host_cxxopt=-std=c++20
"""

def _stand_in_impl(ctx):
    # Links every entry of the stand-in's directory in tbbx into the repository.
    tbbx_root = ctx.path(ctx.attr._marker).dirname.dirname
    for entry in ctx.path("{}/{}".format(tbbx_root, ctx.attr.path)).readdir():
        ctx.symlink(entry, entry.basename)

_stand_in = repository_rule(
    implementation = _stand_in_impl,
    attrs = {
        "path": attr.string(mandatory = True),
        # A file of this repository (bazel/deps.bzl): tbbx's root is its
        # grandparent.
        "_marker": attr.label(default = Label("//bazel:deps.bzl")),
    },
    local = True,
)

_TBB_BUILD = """# oneTBB found on this system by @tbbx//bazel:deps.bzl: {lib}
load("@rules_cc//cc:defs.bzl", "cc_import", "cc_library")

package(default_visibility = ["//visibility:public"])

cc_import(
    name = "libtbb",
    shared_library = "lib/libtbb.so",
)

cc_library(
    name = "tbb",
    hdrs = glob(["include/tbb/**", "include/oneapi/tbb/**", "include/oneapi/tbb.h"]),
    includes = {includes},
    linkopts = ["-pthread"],
    deps = [":libtbb"],
)
"""

def _find_tbb(ctx):
    """Returns (prefix, libtbb.so path) or fails with what was searched."""
    roots = []
    if ctx.os.environ.get("TBB_ROOT"):
        roots.append(ctx.os.environ["TBB_ROOT"])
    roots += ["/usr", "/usr/local"]
    libdirs = []
    cc = ctx.which(ctx.os.environ.get("CC", "cc")) or ctx.which("gcc")
    if cc:
        result = ctx.execute([cc, "-print-multiarch"])
        multiarch = result.stdout.strip()
        if result.return_code == 0 and multiarch:
            libdirs.append("lib/" + multiarch)
    libdirs += ["lib64", "lib"]
    searched = []
    for root in roots:
        for libdir in libdirs:
            lib = ctx.path(root + "/" + libdir + "/libtbb.so")
            searched.append(str(lib))
            if lib.exists and ctx.path(root + "/include/oneapi/tbb.h").exists:
                return root, lib
    fail("oneTBB not found (install libtbb-dev, or set TBB_ROOT); looked for " +
         ", ".join(searched))

def _system_tbb_impl(ctx):
    root, lib = _find_tbb(ctx)
    ctx.symlink(lib, "lib/libtbb.so")
    for entry in ["tbb", "oneapi"]:
        path = ctx.path(root + "/include/" + entry)
        if path.exists:
            ctx.symlink(path, "include/" + entry)

    # /usr/include is on the compiler's default path; any other prefix is not.
    includes = "[]" if root == "/usr" else "[\"include\"]"
    ctx.file("BUILD.bazel", _TBB_BUILD.format(lib = lib, includes = includes))
    ctx.file("WORKSPACE", "workspace(name = \"{}\")\n".format(ctx.name))

system_tbb = repository_rule(
    implementation = _system_tbb_impl,
    environ = ["TBB_ROOT", "CC"],
    local = True,
)

def tbbx_dependencies():
    """Declares what @tbbx//:tbbx needs and the workspace does not have yet."""
    for name in ["rules_cc", "rules_java", "remote_coverage_tools"]:
        if not native.existing_rule(name):
            _stand_in(name = name, path = "third_party/bazel/" + name)
    if not native.existing_rule("tbb"):
        system_tbb(name = "tbb")
