// SPDX-License-Identifier: Apache-2.0
// Forwarding header: multi_error lives in the context core, which the task
// graph and the patterns both build on. Include <tbbx/context/multi_error.h>.
#ifndef TBBX_PATTERNS_MULTI_ERROR_H_
#define TBBX_PATTERNS_MULTI_ERROR_H_

#include "tbbx/context/detail/config.h"
#if TBBX_CPLUSPLUS >= 202002L  // otherwise config.h's #error is all

#include "tbbx/context/multi_error.h"

#endif  // TBBX_CPLUSPLUS >= 202002L

#endif  // TBBX_PATTERNS_MULTI_ERROR_H_
