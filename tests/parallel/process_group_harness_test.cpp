// The harness must turn every way a rank can go wrong into a failure of the
// calling test that names the rank, not into a pass or a hang.

#include "process_group_harness.hpp"

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <csignal>
#include <thread>

#include "core/error.hpp"

namespace xdit::parallel::testing {
namespace {

TEST(ProcessGroupHarness, RunsEachRankOnceInItsOwnProcess) {
  run_process_group(3, [](Communicator& comm, int rank) {
    EXPECT_EQ(comm.rank(), rank);
    EXPECT_EQ(comm.world_size(), 3);
    // Every rank contributes its process id; three distinct processes.
    const at::Tensor pids = comm.world().all_gather(at::full({1}, ::getpid(), at::kLong), 0);
    EXPECT_EQ(std::get<0>(at::_unique(pids)).numel(), 3);
  });
}

TEST(ProcessGroupHarness, ReportsARanksFailedExpectation) {
  EXPECT_NONFATAL_FAILURE(
      run_process_group(2,
                        [](Communicator&, int rank) { EXPECT_NE(rank, 1) << "marker-for-rank-1"; }),
      "rank 1 of 2 failed");
}

TEST(ProcessGroupHarness, ReportsAnExceptionThatEscapesTheBody) {
  EXPECT_NONFATAL_FAILURE(run_process_group(2,
                                            [](Communicator&, int rank) {
                                              if (rank == 0)
                                                throw UsageError("escaped-marker");
                                            }),
                          "escaped-marker");
}

TEST(ProcessGroupHarness, ReportsACrashedRank) {
  EXPECT_NONFATAL_FAILURE(run_process_group(2,
                                            [](Communicator&, int rank) {
                                              // As if killed from outside.
                                              if (rank == 1)
                                                std::raise(SIGKILL);
                                            }),
                          "rank 1 of 2 crashed with signal 9");
}

TEST(ProcessGroupHarness, KillsAndReportsAHungRank) {
  EXPECT_NONFATAL_FAILURE(run_process_group(
                              2,
                              [](Communicator&, int rank) {
                                if (rank == 0)
                                  std::this_thread::sleep_for(std::chrono::seconds(30));
                              },
                              GroupRunOptions{.run_timeout = std::chrono::seconds(2)}),
                          "rank 0 of 2 hung");
}

}  // namespace
}  // namespace xdit::parallel::testing
