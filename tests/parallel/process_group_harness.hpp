#pragma once
// Runs a test body in a real group of processes, one per rank, each with a
// Communicator joined to the others over Gloo:
//
//   TEST(Communicator, AllReduce) {
//     run_process_group(2, [](Communicator& comm, int rank) {
//       EXPECT_EQ(comm.world().all_reduce_sum(at::ones({2})).sum().item<float>(), 4.f);
//     });
//   }
//
// How: the calling test process is only a supervisor. It serves the TCPStore
// on a free port (chosen by the kernel, so parallel CTest jobs cannot
// collide), then starts the test binary itself once per rank with
// --gtest_filter selecting the current test and the rank, world size and port
// in the environment. In a rank process the same TEST runs up to this call,
// which then joins the group, runs `body`, reports its GoogleTest failures to
// the supervisor through a file and ends the process. The supervisor waits
// for all ranks (killing them after the run timeout) and fails the test with
// each failing rank's messages, exit status or signal, and last output.
//
// Why re-execute instead of fork(): by the time a TEST body runs, LibTorch has
// started threads (OpenMP and c10 pools, possibly c10d's); fork() copies only
// the calling thread, so a lock that another thread held stays locked forever
// in the child, and OpenMP after fork is known to hang. A fresh process (via
// posix_spawn, which is safe in a threaded parent) starts clean, exactly like
// a real worker. GoogleTest's "threadsafe" death tests re-execute for the
// same reason.
//
// Consequences for tests: code of the TEST before and after this call runs in
// every process (keep it free of side effects); a TEST may call this several
// times (each call is a separate group); the body must not depend on state
// built in the supervisor.

#include <chrono>
#include <functional>

#include "parallel/communicator.hpp"
#include "parallel/parallel_config.hpp"

namespace xdit::parallel::testing {

struct GroupRunOptions {
  // The communicator's timeout for every operation in the body.
  std::chrono::milliseconds op_timeout = std::chrono::seconds(20);
  // Ranks still running after this are killed and reported as hung.
  std::chrono::milliseconds run_timeout = std::chrono::seconds(60);
  // Let rank 0 serve the store on a port picked in advance, as a worker group
  // without a launcher does, instead of the supervisor serving it.
  bool rank0_serves_store = false;
  // Where the ranks' tensors live (Rendezvous::device). A GPU with
  // host_staged: every rank on that GPU, talking through Gloo; without: one
  // GPU per rank (cuda:<rank>), talking through NCCL.
  c10::Device device = c10::kCPU;
  // Rendezvous::host_staged: every tensor crosses through a host copy.
  bool host_staged = false;
};

// The device of `rank` under `options` (see GroupRunOptions::device).
c10::Device rank_device(const GroupRunOptions& options, int rank);

using RankBody = std::function<void(Communicator& comm, int rank)>;

// `world_size` ranks with the world group only.
void run_process_group(int world_size, const RankBody& body, const GroupRunOptions& options = {});
// config.product() ranks with the mesh's groups.
void run_process_group(const ParallelConfig& config, const RankBody& body,
                       const GroupRunOptions& options = {});

// A TCP port on 127.0.0.1 that was free a moment ago (0 if none).
int free_local_port();

}  // namespace xdit::parallel::testing
