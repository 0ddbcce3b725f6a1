// SPDX-License-Identifier: Apache-2.0
// The one header every tbbx header includes first: the language requirement,
// then the export macro. Internal.
#ifndef TBBX_CONTEXT_DETAIL_CONFIG_H_
#define TBBX_CONTEXT_DETAIL_CONFIG_H_

// MSVC reports __cplusplus as 199711L unless /Zc:__cplusplus; _MSVC_LANG is
// the real value there.
#if defined(_MSVC_LANG) && _MSVC_LANG > __cplusplus
#define TBBX_CPLUSPLUS _MSVC_LANG
#elif defined(__cplusplus)
#define TBBX_CPLUSPLUS __cplusplus
#else
#define TBBX_CPLUSPLUS 0L
#endif

#if TBBX_CPLUSPLUS < 202002L
// One message, before any other tbbx or standard header can fail.
// clang-format off
#error "tbbx requires C++20: compile with -std=c++20 or later (g++ >= 12, clang >= 14)"
// clang-format on
#else

#include "tbbx/context/detail/export.h"

#endif

#endif  // TBBX_CONTEXT_DETAIL_CONFIG_H_
