// SPDX-License-Identifier: Apache-2.0
// start_service_thread: how tbbx starts its own threads. Internal.
#ifndef TBBX_CONTEXT_DETAIL_SERVICE_THREAD_H_
#define TBBX_CONTEXT_DETAIL_SERVICE_THREAD_H_

namespace tbbx::detail {

// start_service_thread runs body(arg) on a new detached thread named
// `name`. Its scheduling policy is set explicitly, never inherited from
// the caller: SCHED_OTHER, or (when `realtime`) whatever the thread then
// asks for itself. Service threads are never joined: they live until the
// process ends, so that deadlines keep firing during static destruction
// and exit() may be called from any thread. Throws std::system_error if
// the thread cannot be created.
void start_service_thread(const char* name, bool realtime, void (*body)(void*),
                          void* arg);

}  // namespace tbbx::detail

#endif  // TBBX_CONTEXT_DETAIL_SERVICE_THREAD_H_
