// SPDX-License-Identifier: Apache-2.0
// TBBX_API: marks the classes, functions and variables that the shared
// library exports. tbbx is compiled with -fvisibility=hidden and
// -fvisibility-inlines-hidden (CMakeLists.txt), so everything else in
// libtbbx.so stays internal: what headers name (directly or from templates
// and inline functions) carries TBBX_API, nothing more. In a static build
// the attribute changes nothing. Internal; included by config.h.
#ifndef TBBX_CONTEXT_DETAIL_EXPORT_H_
#define TBBX_CONTEXT_DETAIL_EXPORT_H_

#if defined(__GNUC__) || defined(__clang__)
#define TBBX_API __attribute__((visibility("default")))
#else
#define TBBX_API
#endif

#endif  // TBBX_CONTEXT_DETAIL_EXPORT_H_
