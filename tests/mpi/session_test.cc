// SPDX-License-Identifier: Apache-2.0
// tbbx::mpi contract tests. Run under mpirun with 2 and 4 ranks (see
// tests/CMakeLists.txt); every rank runs every test in the same order, as
// the calls are collective. Synchronization is by MPI and context waits,
// never by sleeping.
#include <gtest/gtest.h>
#include <mpi.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>

#include "tbbx/context/multi_error.h"
#include "tbbx/distributed/mpi.h"
#include "tbbx/tbbx.h"

namespace {

using namespace std::chrono_literals;

int world_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}
int world_size() {
  int n = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

class bad_input : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

TEST(Session, CancelFromEachRankReachesAllWithOriginAndType) {
  for (int origin = 0; origin < world_size(); ++origin) {
    tbbx::mpi::session s(MPI_COMM_WORLD, tbbx::background());
    EXPECT_EQ(s.rank(), world_rank());
    EXPECT_EQ(s.size(), world_size());
    if (s.rank() == origin) {
      s.cancel(std::make_exception_ptr(
          bad_input("bad row " + std::to_string(origin))));
    }
    s.get_context().wait();
    const auto& ctx = s.get_context();
    EXPECT_EQ(ctx.err(), tbbx::errc::canceled);
    if (s.rank() == origin) {
      EXPECT_THROW(ctx.throw_if_done(), bad_input);
    } else {
      try {
        ctx.throw_if_done();
        ADD_FAILURE() << "no cause";
      } catch (const tbbx::mpi::remote_error& e) {
        EXPECT_EQ(e.rank(), origin);
        EXPECT_NE(e.type_name().find("bad_input"), std::string::npos)
            << e.type_name();
        EXPECT_EQ(e.message(), "bad row " + std::to_string(origin));
        EXPECT_NE(std::string(e.what()).find(e.message()), std::string::npos);
      }
    }
  }
}

TEST(Session, PlainCancelKeepsItsKindAndNamesTheOrigin) {
  for (int origin = 0; origin < world_size(); ++origin) {
    auto [parent, cancel_parent] = tbbx::with_cancel(tbbx::background());
    tbbx::mpi::session s(MPI_COMM_WORLD, parent);
    if (s.rank() == origin) cancel_parent();  // the parent's end travels
    s.get_context().wait();
    EXPECT_EQ(s.get_context().err(), tbbx::errc::canceled);
    EXPECT_THROW(s.get_context().throw_if_done(), tbbx::canceled_error);
    if (s.rank() != origin) {
      const auto* r =
          tbbx::find_error<tbbx::mpi::remote_error>(s.get_context().cause());
      ASSERT_NE(r, nullptr);
      EXPECT_EQ(r->rank(), origin);
    }
  }
}

TEST(Session, DeadlineOnOneRanksParentBecomesEveryRanksDeadline) {
  const int holder = world_size() - 1;
  auto [parent, cancel] = world_rank() == holder
                              ? tbbx::with_timeout(tbbx::background(), 100ms)
                              : tbbx::with_cancel(tbbx::background());
  tbbx::mpi::session s(MPI_COMM_WORLD, parent);
  ASSERT_TRUE(s.get_context().deadline().has_value());
  const auto left =
      *s.get_context().deadline() - std::chrono::steady_clock::now();
  EXPECT_LE(left, 100ms);
  s.get_context().wait();
  EXPECT_EQ(s.get_context().err(), tbbx::errc::deadline_exceeded);
  EXPECT_THROW(s.get_context().throw_if_done(), tbbx::deadline_exceeded_error);
}

TEST(Session, ParentDoneAtCreationEndsEveryRank) {
  auto [parent, cancel] = tbbx::with_cancel(tbbx::background());
  if (world_rank() == 0) cancel();
  tbbx::mpi::session s(MPI_COMM_WORLD, parent);
  s.get_context().wait();
  EXPECT_EQ(s.get_context().err(), tbbx::errc::canceled);
}

TEST(Session, NestedUnderALocalContextKeepsValuesAndEndsWithIt) {
  static const tbbx::context_key<int> kJob("job");
  auto [outer, cancel_outer] = tbbx::with_cancel(tbbx::background());
  const tbbx::context parent = tbbx::with_value(outer, kJob, 42);
  tbbx::mpi::session s(MPI_COMM_WORLD, parent);
  ASSERT_NE(s.get_context().value(kJob), nullptr);
  EXPECT_EQ(*s.get_context().value(kJob), 42);
  // Nested: a session under the first session's context.
  {
    tbbx::mpi::session inner(MPI_COMM_WORLD, s.get_context());
    if (world_rank() == world_size() - 1) cancel_outer();
    inner.get_context().wait();
    s.get_context().wait();
    EXPECT_EQ(inner.get_context().err(), tbbx::errc::canceled);
  }
}

// trials is TBBX_MPI_TRIALS (default 60): the randomized rounds below.
int trials() {
  const char* v = std::getenv("TBBX_MPI_TRIALS");
  return v != nullptr && std::atoi(v) > 0 ? std::atoi(v) : 60;
}

TEST(Session, BackToBackRandomizedNeverHangs) {
  // The same pseudo-random sequence on every rank picks, each round, one
  // of: a cancel from one rank, an error thrown in run() on one rank, a
  // short deadline on one rank's parent, every rank canceling at once, or
  // nothing. Every round must end on every rank with the same err().
  unsigned seed = 12345;
  auto next = [&] {
    seed = seed * 1103515245u + 12345u;
    return static_cast<int>((seed >> 16) & 0x7fff);
  };
  const int n = world_size();
  for (int i = 0; i < trials(); ++i) {
    const int kind = next() % 5;
    const int who = next() % n;
    switch (kind) {
      case 0: {
        tbbx::mpi::session s(MPI_COMM_WORLD, tbbx::background());
        if (s.rank() == who) s.cancel();
        s.get_context().wait();
        EXPECT_EQ(s.get_context().err(), tbbx::errc::canceled);
        break;
      }
      case 1: {
        int origin = -1;
        try {
          tbbx::mpi::run(MPI_COMM_WORLD, tbbx::background(),
                         [&](const tbbx::context& ctx) {
                           if (world_rank() == who) throw bad_input("x");
                           ctx.wait();
                           ctx.throw_if_done();
                         });
        } catch (const bad_input&) {
          origin = world_rank();
        } catch (const tbbx::mpi::remote_error& e) {
          origin = e.rank();
        }
        EXPECT_EQ(origin, who);
        break;
      }
      case 2: {
        auto [parent, cancel] =
            world_rank() == who ? tbbx::with_timeout(tbbx::background(), 2ms)
                                : tbbx::with_cancel(tbbx::background());
        tbbx::mpi::session s(MPI_COMM_WORLD, parent);
        s.get_context().wait();
        EXPECT_EQ(s.get_context().err(), tbbx::errc::deadline_exceeded);
        break;
      }
      case 3: {
        tbbx::mpi::session s(MPI_COMM_WORLD, tbbx::background());
        s.cancel();
        s.get_context().wait();
        EXPECT_TRUE(s.get_context().done());
        break;
      }
      default: {
        tbbx::mpi::session s(MPI_COMM_WORLD, tbbx::background());
        EXPECT_FALSE(s.get_context().done());
        break;
      }
    }
  }
}

TEST(Run, ErrorOnEachRankIsThrownEverywhere) {
  for (int origin = 0; origin < world_size(); ++origin) {
    try {
      tbbx::mpi::run(
          MPI_COMM_WORLD, tbbx::background(), [&](const tbbx::context& ctx) {
            if (world_rank() == origin) {
              throw bad_input("rank " + std::to_string(origin) +
                              " hit a bad input");
            }
            // Everyone else works until canceled.
            tbbx::parallel_for(ctx, tbb::blocked_range<int>(0, 1 << 30),
                               [&](const tbb::blocked_range<int>& r) {
                                 for (int k = r.begin(); k != r.end(); ++k) {
                                   if (ctx.done()) return;
                                 }
                               });
          });
      ADD_FAILURE() << "run returned";
    } catch (const bad_input& e) {
      EXPECT_EQ(world_rank(), origin);
    } catch (const tbbx::mpi::remote_error& e) {
      EXPECT_NE(world_rank(), origin);
      EXPECT_EQ(e.rank(), origin);
      EXPECT_EQ(e.message(),
                "rank " + std::to_string(origin) + " hit a bad input");
    }
  }
}

TEST(Run, RunAllGathersEveryRanksErrorInRankOrder) {
  try {
    tbbx::mpi::run_all(
        MPI_COMM_WORLD, tbbx::background(), [&](const tbbx::context&) {
          throw std::runtime_error("from " + std::to_string(world_rank()));
        });
    ADD_FAILURE() << "run_all returned";
  } catch (const tbbx::multi_error& m) {
    ASSERT_EQ(static_cast<int>(m.size()), world_size());
    for (int r = 0; r < world_size(); ++r) {
      EXPECT_EQ(tbbx::multi_error::message_of(m.errors()[r])
                        .find("from " + std::to_string(r)) != std::string::npos,
                true)
          << tbbx::multi_error::message_of(m.errors()[r]);
      if (r != world_rank()) {
        const auto* re =
            tbbx::find_error<tbbx::mpi::remote_error>(m.errors()[r]);
        ASSERT_NE(re, nullptr);
        EXPECT_EQ(re->rank(), r);
      }
    }
  }
}

TEST(Run, FirstErrorIsTheSameOnEveryRank) {
  // Every rank fails at once: all must throw the error of the same rank.
  int winner = -1;
  try {
    tbbx::mpi::run(MPI_COMM_WORLD, tbbx::background(),
                   [&](const tbbx::context&) {
                     throw std::runtime_error(std::to_string(world_rank()));
                   });
  } catch (const tbbx::mpi::remote_error& e) {
    winner = e.rank();
  } catch (const std::runtime_error& e) {
    winner = std::stoi(e.what());
    EXPECT_EQ(winner, world_rank());
  }
  int lo = 0;
  int hi = 0;
  MPI_Allreduce(&winner, &lo, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(&winner, &hi, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  EXPECT_EQ(lo, hi);
  EXPECT_GE(lo, 0);
}

TEST(Run, NoErrorReturnsAndValuesReachF) {
  std::atomic<int> calls{0};
  tbbx::mpi::run(MPI_COMM_WORLD, tbbx::background(),
                 [&](const tbbx::context& ctx) {
                   EXPECT_FALSE(ctx.done());
                   ++calls;
                 });
  EXPECT_EQ(calls.load(), 1);
}

TEST(Collectives, CompleteWhenNothingIsCanceled) {
  tbbx::mpi::run(
      MPI_COMM_WORLD, tbbx::background(), [&](const tbbx::context& ctx) {
        tbbx::mpi::barrier(ctx, MPI_COMM_WORLD);
        long in = world_rank() + 1;
        long out = 0;
        tbbx::mpi::allreduce(ctx, &in, &out, 1, MPI_SUM, MPI_COMM_WORLD);
        EXPECT_EQ(out, long(world_size()) * (world_size() + 1) / 2);
        int v = world_rank() == 0 ? 7 : 0;
        tbbx::mpi::bcast(ctx, &v, 1, 0, MPI_COMM_WORLD);
        EXPECT_EQ(v, 7);
      });
}

TEST(Collectives, CanceledMidwayOnEveryRankThrowsTheCause) {
  // Rank 0 never enters the collective: it cancels instead. Every other
  // rank waits in allreduce on a fresh duplicate and must throw.
  MPI_Comm work;
  MPI_Comm_dup(MPI_COMM_WORLD, &work);
  double in = 1;
  double out = 0;
  try {
    tbbx::mpi::run(MPI_COMM_WORLD, tbbx::background(),
                   [&](const tbbx::context& ctx) {
                     if (world_rank() == 0) {
                       throw bad_input("rank 0 gives up");
                     }
                     tbbx::mpi::allreduce(ctx, &in, &out, 1, MPI_SUM, work);
                     ADD_FAILURE() << "allreduce completed without rank 0";
                   });
    ADD_FAILURE() << "run returned";
  } catch (const bad_input&) {
    EXPECT_EQ(world_rank(), 0);
  } catch (const tbbx::mpi::remote_error& e) {
    EXPECT_EQ(e.rank(), 0);
  }
  // `work` is unusable for collectives now; in and out outlive it.
  MPI_Comm_free(&work);
}

TEST(Waits, PointToPointWaitIsCanceledWithTheContext) {
  tbbx::mpi::session s(MPI_COMM_WORLD, tbbx::background());
  int buf = 0;
  MPI_Request req;
  // A receive nobody matches: canceled when the session ends.
  MPI_Irecv(&buf, 1, MPI_INT, MPI_ANY_SOURCE, 999, MPI_COMM_WORLD, &req);
  if (s.rank() == 0) s.cancel();
  EXPECT_THROW(tbbx::mpi::wait(s.get_context(), req), tbbx::canceled_error);
  EXPECT_EQ(req, MPI_REQUEST_NULL);
}

// A type without an MPI datatype is rejected by the concept, with one
// readable error.
static_assert(tbbx::mpi::mpi_datatype<double>);
static_assert(tbbx::mpi::mpi_datatype<bool>);
static_assert(!tbbx::mpi::mpi_datatype<std::string>);
static_assert(!tbbx::mpi::mpi_datatype<bad_input>);

TEST(Misuse, LoudAndPrecise) {
  EXPECT_THROW(tbbx::mpi::session(MPI_COMM_NULL, tbbx::background()),
               std::invalid_argument);
  int x = 0;
  EXPECT_THROW(tbbx::mpi::bcast(tbbx::background(), &x, -1, 0, MPI_COMM_WORLD),
               std::invalid_argument);
  int argc = 0;
  char** argv = nullptr;
  EXPECT_THROW(tbbx::mpi::environment(argc, argv), std::logic_error);
}

// rank_failures prints failures of ranks other than 0 (whose default
// printer is removed), prefixed by the rank.
class rank_failures : public ::testing::EmptyTestEventListener {
  void OnTestPartResult(const ::testing::TestPartResult& r) override {
    if (r.failed()) {
      std::fprintf(stderr, "[rank %d] %s:%d: %s\n", world_rank(),
                   r.file_name() ? r.file_name() : "?", r.line_number(),
                   r.summary());
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  tbbx::mpi::environment env(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  if (world_rank() != 0) {
    // One rank prints the progress; every rank reports its failures.
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new rank_failures);
  }
  const int failed = RUN_ALL_TESTS();
  int any = 0;
  MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return any;
}
