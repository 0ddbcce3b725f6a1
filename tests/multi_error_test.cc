// SPDX-License-Identifier: Apache-2.0
// Contract tests of multi_error, join_errors, find_error and error_collector.
#include "tbbx/context/multi_error.h"

#include <gtest/gtest.h>

#include <atomic>
#include <ios>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "tbbx/context/error_collector.h"
#include "test_support.h"

namespace {

using tbbx::multi_error;

std::exception_ptr runtime(const std::string& what) {
  return std::make_exception_ptr(std::runtime_error(what));
}

TEST(MultiError, WhatReadsWellForOneThreeAndTenThousand) {
  multi_error one({runtime("disk full")});
  EXPECT_STREQ(one.what(), "1 error: disk full");
  multi_error three({runtime("a"), runtime("b"), runtime("c")});
  EXPECT_STREQ(three.what(), "3 errors: a; b; c");
  std::vector<std::exception_ptr> many;
  for (int i = 0; i < 10'000; ++i) many.push_back(runtime(std::to_string(i)));
  multi_error lots(many);
  EXPECT_EQ(lots.size(), 10'000u);  // errors() keeps all
  EXPECT_STREQ(lots.what(),
               "10000 errors: 0; 1; 2; 3; 4; 5; 6; 7; 8; 9; (and 9990 more)");
}

TEST(MultiError, NonStandardExceptionsHaveAPlaceholder) {
  multi_error m({std::make_exception_ptr(42), runtime("x")});
  EXPECT_STREQ(m.what(), "2 errors: unknown exception; x");
}

TEST(MultiError, FlattensNestedMultiErrorsAndDropsNulls) {
  auto inner =
      std::make_exception_ptr(multi_error({runtime("a"), runtime("b")}));
  multi_error outer({inner, nullptr, runtime("c")});
  ASSERT_EQ(outer.size(), 3u);
  EXPECT_STREQ(outer.what(), "3 errors: a; b; c");
}

TEST(JoinErrors, NullWhenNothingElseAMultiError) {
  EXPECT_EQ(tbbx::join_errors({}), nullptr);
  EXPECT_EQ(tbbx::join_errors({nullptr, nullptr}), nullptr);
  auto one = tbbx::join_errors({nullptr, runtime("only")});
  ASSERT_NE(one, nullptr);
  try {
    std::rethrow_exception(one);
  } catch (const multi_error& m) {
    EXPECT_EQ(m.size(), 1u);
  }
}

TEST(FindError, SearchesTheWholeTreeAndMatchesBaseClasses) {
  auto io = std::make_exception_ptr(
      std::ios_base::failure("read failed", std::io_errc::stream));
  auto tree = tbbx::join_errors(
      {runtime("first"),
       tbbx::join_errors(
           {std::make_exception_ptr(std::logic_error("l")), io})});
  const auto* found = tbbx::find_error<std::ios_base::failure>(tree);
  ASSERT_NE(found, nullptr);
  EXPECT_NE(std::string(found->what()).find("read failed"), std::string::npos);
  // A base class matches the first error of that kind, depth first.
  const auto* base = tbbx::find_error<std::runtime_error>(tree);
  ASSERT_NE(base, nullptr);
  EXPECT_STREQ(base->what(), "first");
  EXPECT_NE(tbbx::find_error<std::system_error>(tree), nullptr);
  EXPECT_EQ(tbbx::find_error<std::bad_alloc>(tree), nullptr);
  EXPECT_EQ(tbbx::find_error<std::exception>(nullptr), nullptr);
}

TEST(FindError, FollowsNestedExceptionChains) {
  std::exception_ptr chained;
  try {
    try {
      throw std::out_of_range("index 9");
    } catch (...) {
      std::throw_with_nested(std::runtime_error("loading config"));
    }
  } catch (...) {
    chained = std::current_exception();
  }
  const auto* cause = tbbx::find_error<std::out_of_range>(chained);
  ASSERT_NE(cause, nullptr);
  EXPECT_STREQ(cause->what(), "index 9");
}

TEST(ErrorCollector, EmptyJoinsToNull) {
  tbbx::error_collector c;
  EXPECT_EQ(c.size(), 0u);
  EXPECT_EQ(c.join(), nullptr);
  c.add(nullptr);
  EXPECT_EQ(c.size(), 0u);
}

TEST(ErrorCollector, KeepsOrderOnOneThread) {
  tbbx::error_collector c;
  for (int i = 0; i < 5; ++i) c.add(runtime(std::to_string(i)));
  auto errors = c.errors();
  ASSERT_EQ(errors.size(), 5u);
  EXPECT_EQ(multi_error::message_of(errors[0]), "0");
  EXPECT_EQ(multi_error::message_of(errors[4]), "4");
}

TEST(ErrorCollector, NothingLostWithEightThreadsAddingAtOnce) {
  const int per_thread = tbbx::testing::under_sanitizer ? 10'000 : 100'000;
  tbbx::error_collector c;
  std::atomic<bool> adding{true};
  std::thread reader([&] {
    while (adding.load()) {
      auto snapshot = c.errors();  // join while others add
      ASSERT_LE(snapshot.size(), c.size());
    }
  });
  auto shared = runtime("shared");
  tbbx::testing::run_together(8, [&](int) {
    for (int i = 0; i < per_thread; ++i) c.add(shared);
  });
  adding = false;
  reader.join();
  EXPECT_EQ(c.size(), 8u * per_thread);
  EXPECT_EQ(c.errors().size(), 8u * per_thread);
}

// Defect: a cycle of nested exceptions made find_error loop forever.
struct self_nesting : std::runtime_error, std::nested_exception {
  self_nesting() : std::runtime_error("nests itself") {}
};

TEST(FindError, ACycleOfNestedExceptionsEnds) {
  const std::nested_exception empty;  // made outside a handler: holds null
  std::exception_ptr p;
  try {
    throw self_nesting();
  } catch (...) {
    p = std::current_exception();
  }
  try {
    std::rethrow_exception(p);
  } catch (self_nesting& object) {   // the very object `p` refers to
    std::nested_exception captured;  // captures `p`, being handled now
    static_cast<std::nested_exception&>(object) = captured;
  }
  EXPECT_EQ(tbbx::find_error<std::logic_error>(p), nullptr);
  EXPECT_NE(tbbx::find_error<std::runtime_error>(p), nullptr);
  auto joined = tbbx::join_errors({p, p});
  EXPECT_EQ(tbbx::find_error<std::logic_error>(joined), nullptr);
  // Break the cycle, or the exception keeps itself alive (a leak).
  try {
    std::rethrow_exception(p);
  } catch (self_nesting& object) {
    static_cast<std::nested_exception&>(object) = empty;
  }
}

}  // namespace
