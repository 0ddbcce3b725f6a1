// SPDX-License-Identifier: Apache-2.0
// mpi_batch: a batch job split across MPI ranks, with oneTBB inside each
// rank, under one deadline. One rank meets a bad input; the whole job stops
// on every rank, and every rank reports that rank's error.
//
//   mpirun -np 4 --oversubscribe examples/mpi_batch [bad_rank] [timeout_ms]
//   ./dev demo-mpi
//
// Each rank checks its slice of records in parallel (tbbx::parallel_for
// under the run's context). Rank `bad_rank` (default: the last) finds a
// malformed record part-way; its exception cancels every rank through the
// session, the other ranks' loops stop at their next done() check, and
// run() throws the same error everywhere: the origin's own bad_record on
// its rank, a remote_error naming that rank elsewhere. Pass bad_rank -1 to
// let the job finish, or a small timeout to see the deadline end it.
#include <oneapi/tbb/blocked_range.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "tbbx/distributed/mpi.h"
#include "tbbx/tbbx.h"

// Named (not in an anonymous namespace) so that other ranks read a clean
// type name: "batch::bad_record".
namespace batch {
class bad_record : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
}  // namespace batch

namespace {
using batch::bad_record;

// check_record stands for real per-record work (parsing, validation).
void check_record(long id) {
  double x = 0;
  for (int k = 1; k < 200; ++k) x += std::sin(double(id + k)) / k;
  volatile double sink = x;  // keep the work
  (void)sink;
}

}  // namespace

int main(int argc, char** argv) {
  tbbx::mpi::environment env(argc, argv);
  int rank = 0;
  int size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const int bad_rank = argc > 1 ? std::atoi(argv[1]) : size - 1;
  const long timeout_ms = argc > 2 ? std::atol(argv[2]) : 5000;

  // The job's deadline, set on rank 0 only: the session gives every rank
  // the same remaining time.
  auto [job, cancel_job] =
      rank == 0 ? tbbx::with_timeout(tbbx::background(),
                                     std::chrono::milliseconds(timeout_ms))
                : tbbx::with_cancel(tbbx::background());

  constexpr long kRecordsPerRank = 200'000;
  const long first = rank * kRecordsPerRank;
  const long bad_id = first + kRecordsPerRank / 3;
  std::atomic<long> checked{0};
  const auto start = std::chrono::steady_clock::now();
  try {
    tbbx::mpi::run(MPI_COMM_WORLD, job, [&](const tbbx::context& ctx) {
      tbbx::parallel_for(
          ctx, tbb::blocked_range<long>(first, first + kRecordsPerRank),
          [&](const tbb::blocked_range<long>& r) {
            for (long id = r.begin(); id != r.end() && !ctx.done(); ++id) {
              if (rank == bad_rank && id == bad_id) {
                throw bad_record("record " + std::to_string(id) +
                                 ": malformed timestamp");
              }
              check_record(id);
              checked.fetch_add(1, std::memory_order_relaxed);
            }
          });
    });
    std::printf("rank %d: done, %ld records checked\n", rank, checked.load());
  } catch (const bad_record& e) {
    std::printf("rank %d: stopped by my own error: %s (%ld checked)\n", rank,
                e.what(), checked.load());
  } catch (const tbbx::mpi::remote_error& e) {
    std::printf("rank %d: stopped by rank %d's %s: %s (%ld checked)\n", rank,
                e.rank(), e.type_name().c_str(), e.message().c_str(),
                checked.load());
  } catch (const tbbx::deadline_exceeded_error& e) {
    std::printf("rank %d: stopped by the deadline: %s (%ld checked)\n", rank,
                e.what(), checked.load());
  }
  const double ms = std::chrono::duration<double, std::milli>(
                        std::chrono::steady_clock::now() - start)
                        .count();
  std::printf("rank %d: %.1f ms\n", rank, ms);
  return 0;
}
