// SPDX-License-Identifier: Apache-2.0
// Forwarding header: error_collector lives in the context core, which the task
// graph and the patterns both build on. Include
// <tbbx/context/error_collector.h>.
#ifndef TBBX_PATTERNS_ERROR_COLLECTOR_H_
#define TBBX_PATTERNS_ERROR_COLLECTOR_H_

#include "tbbx/context/detail/config.h"
#if TBBX_CPLUSPLUS >= 202002L  // otherwise config.h's #error is all

#include "tbbx/context/error_collector.h"

#endif  // TBBX_CPLUSPLUS >= 202002L

#endif  // TBBX_PATTERNS_ERROR_COLLECTOR_H_
