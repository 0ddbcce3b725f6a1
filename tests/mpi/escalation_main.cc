// SPDX-License-Identifier: Apache-2.0
// Escalation: a rank that ignores its session's end is aborted once the
// grace passes. Rank 0 cancels; the last rank is "stuck" in code that
// never looks at its context (it blocks on a context that never ends, the
// stand-in for a hung computation). Its agent must print the cause and call
// MPI_Abort, which ends the whole job: ctest expects that line and a
// non-zero exit (see tests/CMakeLists.txt), and its TIMEOUT fails a hang.
#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <stdexcept>

#include "tbbx/distributed/mpi.h"

int main(int argc, char** argv) {
  tbbx::mpi::environment env(argc, argv);
  int rank = 0;
  int size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  tbbx::mpi::session_options options;
  options.abort_grace = std::chrono::milliseconds(300);
  tbbx::mpi::session s(MPI_COMM_WORLD, tbbx::background(), options);
  if (rank == 0) {
    s.cancel(std::make_exception_ptr(std::runtime_error("operator abort")));
  }
  if (rank == size - 1) {
    // Stuck: never checks s.get_context(), never reaches ~session.
    (void)tbbx::background().wait_for(std::chrono::seconds(50));
    std::printf("escalation_main: rank %d was not aborted\n", rank);
    return 0;
  }
  s.get_context().wait();
  return 0;  // ~session waits for the stuck rank: the abort ends it
}
