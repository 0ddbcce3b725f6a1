// SPDX-License-Identifier: Apache-2.0
#include "tbbx/context/detail/service_thread.h"

#include <string>
#include <system_error>
#include <thread>

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#endif

namespace tbbx::detail {

#if defined(__linux__)

namespace {

struct start_args {
  void (*body)(void*);
  void* arg;
  const char* name;
};

void* trampoline(void* p) {
  const start_args args = *static_cast<start_args*>(p);
  delete static_cast<start_args*>(p);
  pthread_setname_np(pthread_self(), args.name);
  args.body(args.arg);
  return nullptr;
}

}  // namespace

void start_service_thread(const char* name, bool realtime, void (*body)(void*),
                          void* arg) {
  (void)realtime;  // a real-time thread raises itself once running
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  // Never inherit the creator's policy: the creator may be a real-time
  // thread (tbbx's timer, or the application's own).
  pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
  pthread_attr_setschedpolicy(&attr, SCHED_OTHER);
  sched_param param{};
  param.sched_priority = 0;
  pthread_attr_setschedparam(&attr, &param);
  // Service threads take no signals meant for the application.
  sigset_t all, saved;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &saved);
  auto* args = new start_args{body, arg, name};
  pthread_t thread;
  const int rc = pthread_create(&thread, &attr, &trampoline, args);
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    delete args;
    throw std::system_error(
        rc, std::generic_category(),
        std::string("tbbx: cannot start the ") + name + " thread");
  }
}

#else

void start_service_thread(const char*, bool, void (*body)(void*), void* arg) {
  std::thread(body, arg).detach();
}

#endif

}  // namespace tbbx::detail
