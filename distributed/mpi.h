// SPDX-License-Identifier: Apache-2.0
// tbbx::mpi: one context across MPI ranks. Cancel, deadline and the first
// error of any rank reach every rank; collectives that give up when the
// context ends.
//
// A hybrid MPI + oneTBB job runs one process per rank with oneTBB inside
// each. A tbbx context stops only the work of its own process; a session
// makes one context that ends on every rank together:
//
// clang-format off
//   int main(int argc, char** argv) {
//     tbbx::mpi::environment env(argc, argv);       // MPI_THREAD_MULTIPLE
//     auto [parent, cancel] = tbbx::with_timeout(tbbx::background(), 10s);
//     try {
//       tbbx::mpi::run(MPI_COMM_WORLD, parent, [&](const tbbx::context& ctx) {
//         tbbx::parallel_for(ctx, my_slice(), body);  // stops on every rank
//         double local = partial(), total = 0;
//         tbbx::mpi::allreduce(ctx, &local, &total, 1, MPI_SUM, work_comm);
//       });
//     } catch (const tbbx::mpi::remote_error& e) {  // another rank failed
//       std::fprintf(stderr, "rank %d failed: %s\n", e.rank(), e.what());
//     }
//   }
// clang-format on
//
// Main members:
//  - environment: MPI_Init_thread(MPI_THREAD_MULTIPLE) / MPI_Finalize.
//  - session: collective; get_context() ends on every rank when any rank
//    calls cancel(cause), when any rank's parent context ends, or at the
//    session's deadline (the earliest among the ranks' parents at creation,
//    sent as a remaining duration; each rank arms its own timer).
//  - run / run_all: every rank runs f(ctx); the first error anywhere
//    cancels all; every rank throws the same outcome.
//  - wait, barrier, allreduce, bcast: MPI waits that throw ctx.cause() when
//    ctx ends first, so a canceled job never hangs in a collective.
//
// Causes across ranks. On the rank that ended the session, cause() is its
// own exception. On the others it is a remote_error (origin rank, type
// name, what()), except for a canceled or deadline error, which keeps its
// kind (a canceled_error or deadline_exceeded_error, so err() is the same
// on every rank) and carries the remote_error as its nested exception:
// find_error<remote_error>(ctx.cause()) names the origin rank.
//
// Thread safety. Every member may be called from any thread of the rank,
// except the collective ones (constructors and destructors of session,
// run, the collective helpers), which every rank calls in the same order,
// as MPI collectives. MPI must provide MPI_THREAD_MULTIPLE.
//
// Progress. Open MPI has no background progress thread, so a session runs
// one progress agent per process (shared by every session): a thread that
// polls the sessions' control communicators with a short spin after
// activity, then sleeps with exponential backoff. A rank that sends a
// cancel also rings the agents of the ranks on its host (a futex in a
// small shared-memory page), so on one host a cancel costs a wake-up, and
// agents whose peers are all local sleep long; peers on other hosts are
// polled every TBBX_MPI_POLL_CAP_US (100) at most. The agent asks for
// real-time priority (SCHED_FIFO, as the timer thread does;
// TBBX_MPI_REALTIME=0 disables) so that it sees a cancel promptly when
// every core is busy, falls back to normal priority when not permitted, and
// steps down to normal priority to end a context (oneTBB's cancellation
// takes spin locks). It stops inside MPI_Finalize (an MPI_COMM_SELF
// attribute), so programs that call MPI_Finalize themselves need nothing
// more.
//
// What is out of scope. A rank whose process dies or stops answering
// cannot be told apart from a slow one without ULFM (MPIX_Comm_revoke,
// Open MPI >= 5 with a flag). Instead a session escalates: if this rank
// has not reached the end of the session (or of run) within
// session_options::abort_grace after the session's context ended, the agent
// prints the cause and calls MPI_Abort, which ends the whole job.
//
// Communicators after a cancel. Ranks see a cancel at different points, so
// when a context-aware collective throws, some ranks may have entered the
// collective and others not: that communicator's collective sequence is
// broken and it must not be used for collectives again. Never MPI_Cancel a
// collective (it is erroneous). The safe pattern: do the job's collectives
// on a fresh duplicate made for the session (MPI_Comm_dup next to the
// session, MPI_Comm_free after), keep the buffers of an abandoned collective
// alive until that communicator is freed, and let the error go up to run.
// A session does this for its own control traffic.
#ifndef TBBX_DISTRIBUTED_MPI_H_
#define TBBX_DISTRIBUTED_MPI_H_

#include <mpi.h>

#include <chrono>
#include <concepts>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "tbbx/context/context.h"
#include "tbbx/context/multi_error.h"

namespace tbbx::mpi {

// environment initializes MPI with MPI_THREAD_MULTIPLE and finalizes it.
// Throws std::logic_error if MPI is initialized already, and
// std::runtime_error (after finalizing) if the library provides less than
// MPI_THREAD_MULTIPLE. Programs that initialize MPI themselves may use the
// rest of this header if they asked for MPI_THREAD_MULTIPLE. Destroy every
// session before the environment.
class environment {
 public:
  environment(int& argc, char**& argv);
  ~environment();
  environment(const environment&) = delete;
  environment& operator=(const environment&) = delete;
};

// remote_error is an error raised on another rank. what() reads
// "rank R: <type name>: <original what()>".
class remote_error : public std::runtime_error {
 public:
  remote_error(int rank, std::string type_name, std::string message);

  // rank is the origin rank.
  int rank() const noexcept { return rank_; }
  // type_name is the demangled dynamic type of the original exception,
  // e.g. "std::runtime_error" ("unknown" if it was not a std::exception).
  const std::string& type_name() const noexcept { return type_name_; }
  // message is the original what().
  const std::string& message() const noexcept { return message_; }

 private:
  int rank_;
  std::string type_name_;
  std::string message_;
};

// session_options tune a session (and run).
struct session_options {
  // abort_grace: once the session's context has ended, a rank that has not
  // reached the end of the session (its destructor, or the join of run)
  // within this time prints the cause and calls MPI_Abort. Zero or less:
  // never.
  std::chrono::steady_clock::duration abort_grace = std::chrono::seconds(30);
};

namespace detail {
struct session_state;
}

// session is one context over the ranks of a communicator. Creating and
// destroying it are collective over `comm`: every rank does both, in the
// same order as its other collectives on comm. It duplicates comm for its
// own control traffic, so it never matches the user's messages.
class session {
 public:
  // session makes the context (a child of `parent`, carrying its values).
  // A parent done already ends the session on every rank. Throws
  // std::logic_error if MPI is not initialized with MPI_THREAD_MULTIPLE,
  // std::invalid_argument if comm is MPI_COMM_NULL or an
  // inter-communicator.
  session(MPI_Comm comm, const context& parent, session_options options = {});
  // ~session is collective: it waits for the other ranks to get here,
  // receives every control message sent to this rank and frees the
  // communicator, so no message is left behind. The context ends
  // (canceled) locally if it has not.
  ~session();
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  // get_context is the session's context. It ends on every rank once it
  // ends on one (within the agent's latency), with the same err().
  const context& get_context() const noexcept;

  // cancel ends the context here at once and on the other ranks soon after:
  // when this call ends the session, it sends the cancel message from the
  // calling thread (non-blocking sends, pushed out for at most ~50 us; the
  // progress agent finishes what is left). A null cause is a
  // canceled_error. Waits for no other rank; after the session has ended
  // (on any rank, for any reason), it does nothing.
  void cancel(std::exception_ptr cause = nullptr) noexcept;

  // rank and size are this rank and the number of ranks in comm.
  int rank() const noexcept;
  int size() const noexcept;

 private:
  friend struct session_access;
  std::unique_ptr<detail::session_state> state_;
};

namespace detail {
using rank_function = std::function<void(const context&)>;
void run_impl(MPI_Comm comm, const context& parent, const rank_function& f,
              bool all, const session_options& options);
void wait_collective(const context& ctx, MPI_Request& req);
// mpi_type<T>::get() is T's predefined MPI datatype; only the
// arithmetic types below have one.
template <class T>
struct mpi_type;
#define TBBX_MPI_TYPE(T, M)                          \
  template <>                                        \
  struct mpi_type<T> {                               \
    static MPI_Datatype get() noexcept { return M; } \
  }
TBBX_MPI_TYPE(char, MPI_CHAR);
TBBX_MPI_TYPE(signed char, MPI_SIGNED_CHAR);
TBBX_MPI_TYPE(unsigned char, MPI_UNSIGNED_CHAR);
TBBX_MPI_TYPE(short, MPI_SHORT);
TBBX_MPI_TYPE(unsigned short, MPI_UNSIGNED_SHORT);
TBBX_MPI_TYPE(int, MPI_INT);
TBBX_MPI_TYPE(unsigned, MPI_UNSIGNED);
TBBX_MPI_TYPE(long, MPI_LONG);
TBBX_MPI_TYPE(unsigned long, MPI_UNSIGNED_LONG);
TBBX_MPI_TYPE(long long, MPI_LONG_LONG);
TBBX_MPI_TYPE(unsigned long long, MPI_UNSIGNED_LONG_LONG);
TBBX_MPI_TYPE(float, MPI_FLOAT);
TBBX_MPI_TYPE(double, MPI_DOUBLE);
TBBX_MPI_TYPE(long double, MPI_LONG_DOUBLE);
TBBX_MPI_TYPE(bool, MPI_CXX_BOOL);
#undef TBBX_MPI_TYPE
void check_count(const char* fn, int n);
}  // namespace detail

// mpi_datatype: T has a predefined MPI datatype (the arithmetic types and
// bool), as allreduce and bcast require.
template <class T>
concept mpi_datatype = requires { detail::mpi_type<T>::get(); };

// run runs f(ctx) on every rank under one session over comm (ctx carries
// the parent's values). The first error anywhere cancels every rank; once
// every rank's f has returned, every rank throws the same error, chosen
// consistently (the error whose cancel reached rank 0 first): its origin
// rank throws its own exception, the others a remote_error naming that rank
// (or, for a canceled or deadline error, an error of the same kind). An
// error that only echoes the session's cause (f rethrew ctx.cause() from
// another rank) is not an error of its own. If no f threw, run returns,
// even if the context ended. Collective over comm.
template <class F>
  requires std::invocable<F&, const context&>
void run(MPI_Comm comm, const context& parent, F&& f,
         session_options options = {}) {
  detail::run_impl(comm, parent, detail::rank_function(std::ref(f)),
                   /*all=*/false, options);
}

// run_all is run, but every rank throws a multi_error holding every rank's
// own error, in rank order, the same on every rank: the rank's own
// exception on that rank, remote errors (as above) elsewhere.
template <class F>
  requires std::invocable<F&, const context&>
void run_all(MPI_Comm comm, const context& parent, F&& f,
             session_options options = {}) {
  detail::run_impl(comm, parent, detail::rank_function(std::ref(f)),
                   /*all=*/true, options);
}

// wait waits for a point-to-point request to complete, or throws
// ctx.cause() when ctx ends first; the request is then canceled
// (MPI_Cancel) and freed, and req is MPI_REQUEST_NULL. Spins briefly
// calling MPI_Test, then sleeps with backoff (never blocks a core). For
// requests of non-blocking collectives use barrier/allreduce/bcast, which
// never cancel.
void wait(const context& ctx, MPI_Request& req,
          MPI_Status* status = MPI_STATUS_IGNORE);

// barrier, allreduce and bcast run MPI_Ibarrier / MPI_Iallreduce /
// MPI_Ibcast and wait for them as wait() does. When ctx ends first they
// throw ctx.cause() and abandon the collective: the communicator must not
// be used for collectives again, and the buffers must stay alive until it
// is freed (see "Communicators after a cancel" above). n < 0 throws
// std::invalid_argument.
void barrier(const context& ctx, MPI_Comm comm);

template <mpi_datatype T>
void allreduce(const context& ctx, const T* in, T* out, int n, MPI_Op op,
               MPI_Comm comm) {
  detail::check_count("tbbx::mpi::allreduce", n);
  ctx.throw_if_done();
  MPI_Request req;
  MPI_Iallreduce(in, out, n, detail::mpi_type<T>::get(), op, comm, &req);
  detail::wait_collective(ctx, req);
}

template <mpi_datatype T>
void bcast(const context& ctx, T* data, int n, int root, MPI_Comm comm) {
  detail::check_count("tbbx::mpi::bcast", n);
  ctx.throw_if_done();
  MPI_Request req;
  MPI_Ibcast(data, n, detail::mpi_type<T>::get(), root, comm, &req);
  detail::wait_collective(ctx, req);
}

}  // namespace tbbx::mpi

#endif  // TBBX_DISTRIBUTED_MPI_H_
