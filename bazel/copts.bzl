# SPDX-License-Identifier: Apache-2.0
"""Compiler flags shared by every tbbx target (CMakeLists.txt uses the same)."""

TBBX_COPTS = [
    "-std=c++20",
    "-Wall",
    "-Wextra",
]
