// SPDX-License-Identifier: Apache-2.0
// session_state and the progress agent. Internal.
//
// Protocol. Each session owns a duplicate of the user's communicator. The
// only point-to-point traffic on it is the cancel message (tag kCancelTag):
// a rank sends it, at most once per session, to every other rank when the
// session ends here first (origin_ is this rank: a local cancel, the parent
// ending, the local deadline timer). A rank that ends because a cancel
// message arrived does not forward it: the origin sent it to everyone.
// The destructor closes the session (no send after that), allgathers who
// sent, and receives every message not yet received, so nothing is left
// unreceived when the communicator is freed and MPI finalizes.
//
// Threads. The agent thread polls every registered session (MPI_Improbe /
// MPI_Mrecv, which are safe with several threads on one communicator),
// sends pending cancels and watches the escalation grace. Its registry is
// guarded by a pi_lock because the agent may run at real-time priority and
// the registering threads at normal priority: a preempted holder is
// boosted, never spun on. Lock order: agent registry lock, then a session's
// lock.
#ifndef TBBX_DISTRIBUTED_DETAIL_SESSION_STATE_H_
#define TBBX_DISTRIBUTED_DETAIL_SESSION_STATE_H_

#include <mpi.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <string>
#include <vector>

#include "tbbx/context/callbacks.h"
#include "tbbx/context/context.h"
#include "tbbx/context/detail/pi_lock.h"
#include "tbbx/distributed/mpi.h"

namespace tbbx::mpi::detail {

inline constexpr int kCancelTag = 1;

// kind of a cause on the wire: its errc, or other (becomes a remote_error).
enum class cause_kind : std::int32_t { other = 0, canceled = 1, deadline = 2 };

// wire_error is an exception flattened for the wire.
struct wire_error {
  cause_kind kind = cause_kind::other;
  std::string type_name;
  std::string what;
};

// describe flattens `e` (never null).
wire_error describe(const std::exception_ptr& e);
// encode / decode: [int32 kind][type_name]\0[what] in bytes.
std::vector<char> encode(const wire_error& w);
wire_error decode(const char* data, int size);
// host_id identifies this host (a hash of its name).
std::int64_t host_id();
// rebuild makes the cause other ranks see for rank `origin`'s error.
std::exception_ptr rebuild(int origin, const wire_error& w);
// prime_error_path runs describe() and rebuild() once per process, so
// that the first cancel does not pay the first throw's unwinder set-up.
void prime_error_path();

struct session_state {
  MPI_Comm comm = MPI_COMM_NULL;  // the duplicate; set once in the ctor
  int rank = 0;
  int size = 0;
  session_options options;
  context ctx;                         // set once in the ctor
  cancel_func cancel;                  // ends ctx; set once
  tbbx::detail::node* node = nullptr;  // ctx's node, for cancel_node
  callback_registration on_end;

  // origin_ is the rank that ended the session first as seen here (-1:
  // not ended): set once by CAS, by the first of a local end (this rank)
  // and the agent receiving a cancel message (its source).
  std::atomic<int> origin{-1};
  // reached_end: this rank reached the end of the session or run's join
  // (escalation no longer applies). Set once.
  std::atomic<bool> reached_end{false};

  tbbx::detail::pi_lock lock;  // guards the fields below
  bool sent = false;           // the cancel message went out
  bool closing = false;        // the destructor decided: no more sends
  bool sends_out = false;      // the sends completed (and were rung)
  // The cause the agent made from the first cancel message received (it
  // may lose the race to end ctx against a local end).
  std::exception_ptr remote_cause;
  std::vector<MPI_Request> sends;  // the Isends of the cancel message
  std::vector<char> payload;       // their buffer, alive until Waitall

  // Per rank: the process id of a rank on this host (its agent's doorbell,
  // see agent.cc), or 0. all_local: every rank is on this host. Set once.
  std::vector<long> local_pids;
  bool all_local = false;

  // Touched by the agent while registered, then by the destructor only.
  std::vector<char> received;  // per source rank: its cancel arrived
  std::chrono::steady_clock::time_point ended_at{};  // first seen done

  // send_cancel_locked sends the cancel message to every other rank if
  // this rank is the origin, nothing went out yet and the destructor has
  // not closed the session; returns whether it sent. Call with `lock`.
  bool send_cancel_locked();
};

// agent_register / agent_unregister add and remove a session from the
// process's progress agent (started on first use; stopped inside
// MPI_Finalize). After agent_unregister returns, the agent never touches
// the session again.
void agent_register(session_state* s);
// agent_start starts the agent (and makes its doorbell) if it has not
// started; a session calls it before telling the others its process id.
void agent_start();
void agent_unregister(session_state* s) noexcept;
// agent_wake makes the agent poll now. Never blocks; timer-safe.
void agent_wake() noexcept;
// agent_ring wakes the agents of the ranks of `s` on this host at once
// (a futex in shared memory), so that a cancel reaches them without
// waiting for their next poll. Never blocks.
void agent_ring(const session_state& s) noexcept;
// agent_realtime: whether the agent thread runs at real-time priority
// (false before it started).
bool agent_realtime() noexcept;

}  // namespace tbbx::mpi::detail

#endif  // TBBX_DISTRIBUTED_DETAIL_SESSION_STATE_H_
