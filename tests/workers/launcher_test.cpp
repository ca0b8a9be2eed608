#include "workers/launcher.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <set>
#include <thread>

#include "../engine/temp_folder.hpp"
#include "core/error.hpp"
#include "support/rounding.hpp"
#include "worker_test_support.hpp"
#include "workers/worker_error.hpp"

namespace xdit::workers {
namespace {

using namespace xdit::workers::testing;
using xdit::testing::contains;
using xdit::testing::max_difference;
using xdit::testing::scaled_difference;
using xdit::testing::TempFolder;

void expect_all_gone(const std::vector<pid_t>& pids) {
  for (pid_t pid : pids)
    EXPECT_TRUE(process_gone(pid)) << "worker " << pid << " is still there";
}

parallel::ParallelConfig tensor2() {
  parallel::ParallelConfig config;
  config.tensor_degree = 2;
  return config;
}

TEST(Launcher, OneWorkerStaysWarmAndMatchesSerial) {
  Launcher group(tiny_spec(), test_launch_options());
  const auto pids = group.pids();
  int ready = 0;
  int steps = 0;
  int previews = 0;
  GroupCallbacks callbacks;
  callbacks.on_ready = [&](const ReadyMessage& m) {
    ++ready;
    EXPECT_GT(m.memory.rss_bytes, 0);
  };
  callbacks.on_progress = [&](const ProgressMessage& m) {
    EXPECT_EQ(m.step, ++steps);
    EXPECT_EQ(m.total, 2);
  };
  callbacks.on_preview = [&](const PreviewMessage& m) {
    ++previews;
    EXPECT_EQ(m.latents.sizes(), (at::IntArrayRef{1, 4, 8, 12}));
  };
  const auto request = small_request();
  const auto first = group.generate(request, callbacks, 1);
  EXPECT_EQ(ready, 1);
  EXPECT_EQ(steps, 2);
  EXPECT_EQ(previews, 2);
  ASSERT_EQ(first.metrics.size(), 1u);
  EXPECT_EQ(first.metrics[0].step_seconds.size(), 2u);
  const auto serial = serial_reference(request);
  EXPECT_LE(scaled_difference(first.result.latents, serial.result.latents), serial.tolerance);
  EXPECT_LE(max_difference(first.result.images, serial.result.images), 1);
  EXPECT_EQ(first.result.images.sizes(), serial.result.images.sizes());

  // A request that cannot run is refused before it reaches the workers,
  // which stay up for the next one.
  auto bad = request;
  bad.height = 100;
  EXPECT_THROW(group.generate(bad), UsageError);
  EXPECT_TRUE(group.running());

  steps = 0;
  const auto again = group.generate(small_request(6), callbacks);
  EXPECT_EQ(ready, 1) << "the second request must not reload the model";
  EXPECT_EQ(group.pids(), pids);
  const auto serial6 = serial_reference(small_request(6));
  EXPECT_LE(scaled_difference(again.result.latents, serial6.result.latents), serial6.tolerance);

  group.stop();
  EXPECT_FALSE(group.running());
  expect_all_gone(pids);
}

TEST(Launcher, TwoWorkersReportEveryRankAndMatchSerial) {
  Launcher group(tiny_spec(tensor2()), test_launch_options());
  std::set<int> progressed;
  GroupCallbacks callbacks;
  callbacks.on_progress = [&](const ProgressMessage& m) { progressed.insert(m.rank); };
  const auto request = small_request();
  const auto out = group.generate(request, callbacks);
  EXPECT_EQ(progressed, (std::set<int>{0, 1}));
  ASSERT_EQ(out.metrics.size(), 2u);
  for (int rank = 0; rank < 2; ++rank) {
    const auto& m = out.metrics[rank];
    EXPECT_EQ(m.rank, rank);
    EXPECT_EQ(m.step_seconds.size(), 2u);
    EXPECT_GT(m.comm["total"]["bytes_sent"].get<int64_t>(), 0) << m.comm.dump();
    EXPECT_GT(m.memory.peak_rss_bytes, 0);
  }
  const auto serial = serial_reference(request);
  EXPECT_LE(scaled_difference(out.result.latents, serial.result.latents), serial.tolerance);
  EXPECT_LE(max_difference(out.result.images, serial.result.images), 1);
  const auto pids = group.pids();
  group.stop();
  expect_all_gone(pids);
}

TEST(Launcher, AWorkerKilledMidRunStopsTheGroupAndIsNamed) {
  Launcher group(tiny_spec(tensor2()), test_launch_options());
  const auto pids = group.pids();
  auto request = small_request();
  request.num_inference_steps = 50;  // far from done when the kill comes
  GroupCallbacks callbacks;
  std::chrono::steady_clock::time_point killed_at;
  callbacks.on_progress = [&](const ProgressMessage& m) {
    if (m.rank == 1 && m.step == 1) {
      killed_at = std::chrono::steady_clock::now();
      ::kill(pids[1], SIGKILL);
    }
  };
  try {
    group.generate(request, callbacks);
    FAIL() << "the generation survived a killed worker";
  } catch (const WorkerError& e) {
    const auto took = std::chrono::steady_clock::now() - killed_at;
    EXPECT_LT(took, std::chrono::seconds(30));
    EXPECT_EQ(e.rank(), 1);
    EXPECT_TRUE(
        contains(e.what(), "rank 1 (pid " + std::to_string(pids[1]) + ") was killed by signal 9"))
        << e.what();
  }
  EXPECT_FALSE(group.running());
  expect_all_gone(pids);
  EXPECT_THROW(group.generate(small_request()), WorkerError);
}

TEST(Launcher, AWorkerLostBetweenRequestsIsNoticedByCheck) {
  Launcher group(tiny_spec(tensor2()), test_launch_options());
  const auto pids = group.pids();
  group.check();  // loading: ready messages are fine
  group.wait_ready();
  group.check();  // all well: returns
  EXPECT_TRUE(group.running());
  ::kill(pids[1], SIGKILL);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  try {
    while (std::chrono::steady_clock::now() < deadline)
      group.check();
    FAIL() << "check() did not notice the killed worker";
  } catch (const WorkerError& e) {
    EXPECT_EQ(e.rank(), 1);
    EXPECT_TRUE(contains(e.what(), "was killed by signal 9")) << e.what();
  }
  expect_all_gone(pids);
}

TEST(Launcher, AWorkerKilledWhileLoadingIsNamed) {
  Launcher group(tiny_spec(tensor2()), test_launch_options());
  const auto pids = group.pids();
  ::kill(pids[0], SIGKILL);
  try {
    group.wait_ready();
    FAIL() << "became ready without rank 0";
  } catch (const WorkerError& e) {
    EXPECT_EQ(e.rank(), 0);
    EXPECT_TRUE(contains(e.what(), "was killed by signal 9")) << e.what();
  }
  expect_all_gone(pids);
}

TEST(Launcher, AWorkerErrorIsReportedWithItsText) {
  // Configs intact, weights broken: the launcher accepts the folder, the
  // workers fail to load it.
  const TempFolder temp;
  const auto model = temp / "broken-model";
  std::filesystem::copy(tiny_model(), model, std::filesystem::copy_options::recursive);
  const auto weights = model / "transformer" / "diffusion_pytorch_model.safetensors";
  std::filesystem::resize_file(weights, 100);
  GroupSpec spec = tiny_spec(tensor2());
  spec.model = model.string();
  auto options = test_launch_options();
  options.log_dir = temp / "logs";
  Launcher group(spec, options);
  const auto pids = group.pids();
  // Both ranks fail alike; whichever reports first is named.
  try {
    group.wait_ready();
    FAIL() << "loaded broken weights";
  } catch (const WorkerError& e) {
    EXPECT_TRUE(contains(e.what(), "rank " + std::to_string(e.rank()) + " (pid ")) << e.what();
    EXPECT_TRUE(contains(e.what(), weights.string())) << e.what();
  }
  expect_all_gone(pids);
  EXPECT_TRUE(std::filesystem::exists(temp / "logs" / "rank1.log"));
}

TEST(Launcher, CancelFromAnotherThreadStopsTheGroup) {
  Launcher group(tiny_spec(tensor2()), test_launch_options());
  const auto pids = group.pids();
  auto request = small_request();
  request.num_inference_steps = 50;
  std::thread canceller;
  GroupCallbacks callbacks;
  callbacks.on_progress = [&](const ProgressMessage& m) {
    if (m.rank == 0 && m.step == 1)
      canceller = std::thread([&group] { group.cancel(); });
  };
  EXPECT_THROW(group.generate(request, callbacks), GroupCancelled);
  if (canceller.joinable())
    canceller.join();
  EXPECT_FALSE(group.running());
  expect_all_gone(pids);
}

TEST(Launcher, AThrowingCallbackLeavesNoProcessBehind) {
  std::vector<pid_t> pids;
  {
    Launcher group(tiny_spec(tensor2()), test_launch_options());
    pids = group.pids();
    GroupCallbacks callbacks;
    callbacks.on_progress = [](const ProgressMessage&) { throw std::runtime_error("boom"); };
    EXPECT_THROW(group.generate(small_request(), callbacks), std::runtime_error);
    expect_all_gone(pids);
  }
  // And a group dropped while loading is reaped by its destructor.
  {
    Launcher group(tiny_spec(tensor2()), test_launch_options());
    pids = group.pids();
  }
  expect_all_gone(pids);
}

TEST(Launcher, RefusesWhatCannotRunBeforeStartingAnything) {
  parallel::ParallelConfig three;
  three.ulysses_degree = 3;
  GroupSpec spec = tiny_spec(three);
  spec.world_size = 2;
  try {
    Launcher group(spec, test_launch_options());
    FAIL() << "started a group whose degrees do not multiply to its size";
  } catch (const UsageError& e) {
    EXPECT_TRUE(contains(e.what(), "use --nproc 3")) << e.what();
  }
  auto options = test_launch_options();
  options.worker_executable = "/no/such/xdit-worker";
  try {
    Launcher group(tiny_spec(), options);
    FAIL() << "started a missing executable";
  } catch (const WorkerError& e) {
    EXPECT_TRUE(contains(e.what(), "/no/such/xdit-worker does not exist")) << e.what();
  }
  GroupSpec missing = tiny_spec();
  missing.model = "/no/such/model-folder";
  EXPECT_THROW(Launcher(missing, test_launch_options()), FileError);
}

}  // namespace
}  // namespace xdit::workers
