// SPDX-License-Identifier: Apache-2.0
// tbbx's version. The one source of truth: CMakeLists.txt reads these three
// numbers for project(tbbx VERSION ...), and so for the package version,
// the shared library's soname and tbbx.pc. Bump them here, and add the
// release to CHANGELOG.md.
//
//   #include <tbbx/version.h>
//   static_assert(TBBX_VERSION >= 100);  // 0.1.0 or later
#ifndef TBBX_VERSION_H_
#define TBBX_VERSION_H_

#include "tbbx/context/detail/config.h"
#if TBBX_CPLUSPLUS >= 202002L  // otherwise config.h's #error is all

#define TBBX_VERSION_MAJOR 0
#define TBBX_VERSION_MINOR 1
#define TBBX_VERSION_PATCH 0

// "MAJOR.MINOR.PATCH"; CMake fails to configure if it disagrees with the
// three numbers above.
#define TBBX_VERSION_STRING "0.1.0"

// One comparable number: MAJOR * 10000 + MINOR * 100 + PATCH.
#define TBBX_VERSION \
  (TBBX_VERSION_MAJOR * 10000 + TBBX_VERSION_MINOR * 100 + TBBX_VERSION_PATCH)

#endif  // TBBX_CPLUSPLUS >= 202002L

#endif  // TBBX_VERSION_H_
