// What `xdit plan --calibrate` keeps and how plans use it: the statistics
// sweeps report, the calibration file, the link probe between two ranks of
// this process, and a calibrated plan (collective slowdowns, the copying
// a CPU rank's core does, base memory).

#include "plan/calibration.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "bench/statistics.hpp"
#include "core/error.hpp"
#include "pipelines/builtin_models.hpp"
#include "plan/link_probe.hpp"
#include "plan/planner.hpp"
#include "temp_folder.hpp"

namespace xdit::plan {
namespace {

using testing::TempFolder;

TEST(Statistics, SpreadIsNumpysLinearQuantiles) {
  // numpy.percentile([4, 1, 3, 2, 10], [50, 90]) = [3, 7.6]
  const bench::Spread s = bench::spread_of({4, 1, 3, 2, 10});
  EXPECT_DOUBLE_EQ(s.median, 3);
  EXPECT_DOUBLE_EQ(s.p90, 7.6);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 10);
  EXPECT_EQ(s.count, 5u);
  EXPECT_DOUBLE_EQ(bench::median({1, 2, 3, 4}), 2.5);
  EXPECT_TRUE(std::isnan(bench::spread_of({}).median));
  const bench::Spread back = bench::spread_from_json(bench::to_json(s));
  EXPECT_DOUBLE_EQ(back.p90, s.p90);
  EXPECT_EQ(back.count, s.count);
}

Calibration sample() {
  Calibration c;
  c.flops_per_second = 1e11;
  c.link = link_of(2e9, 50e-6);
  c.link.slowdown = {1, 3, 1.5, 2};
  c.base_memory_bytes = 1.5e8;
  c.host_copy_bandwidth = 2e9;
  c.device = "1 CPU thread(s)";
  c.model = "builtin:bench-pixart";
  c.measured = "2026-12-05T06:00:00Z";
  return c;
}

TEST(Calibration, RoundTripsThroughItsFileAndRefusesABrokenOne) {
  TempFolder folder;
  EXPECT_FALSE(read_calibration(folder / "none.json"));
  write_calibration(folder / "sub" / "c.json", sample());
  const std::optional<Calibration> back = read_calibration(folder / "sub" / "c.json");
  ASSERT_TRUE(back);
  EXPECT_DOUBLE_EQ(back->flops_per_second, 1e11);
  EXPECT_DOUBLE_EQ(back->link.bandwidth, 2e9);
  EXPECT_DOUBLE_EQ(back->link.latency, 50e-6);
  EXPECT_EQ(back->link.slowdown, sample().link.slowdown);
  EXPECT_EQ(back->link.name, "measured");
  EXPECT_DOUBLE_EQ(back->host_copy_bandwidth, 2e9);
  EXPECT_EQ(back->model, "builtin:bench-pixart");

  nlohmann::json broken = to_json(sample());
  broken["flops_per_second"] = "fast";
  std::ofstream(folder / "broken.json") << broken.dump();
  try {
    read_calibration(folder / "broken.json");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("flops_per_second"), std::string::npos);
  }
  std::ofstream(folder / "garbage.json") << "{";
  EXPECT_THROW(read_calibration(folder / "garbage.json"), FileError);
}

TEST(LinkProbe, MeasuresAPositiveLinkBetweenTwoRanksOfThisProcess) {
  LinkProbeOptions options;
  options.large_bytes = 1 << 20;
  options.rounds = 3;
  const LinkModel link = probe_local_link(options);
  EXPECT_EQ(link.name, "measured");
  EXPECT_GT(link.bandwidth, 0);
  EXPECT_GT(link.latency, 0);
  for (double slowdown : link.slowdown)
    EXPECT_GT(slowdown, 0);
}

// A calibrated plan on CPU ranks: a collective's slowdown scales its
// bytes' time, what the core spends copying adds to compute, and every
// rank holds the base.
TEST(Calibration, APlanUsesEveryFigureOfIt) {
  const io::ModelFolder folder(pipelines::resolve_model(
      "builtin:tiny-pixart", std::filesystem::path(::testing::TempDir()) / "xdit-plan"));
  PlanRequest request;
  request.request.prompts = {"x"};
  request.request.height = 256;
  request.request.width = 256;
  request.request.use_resolution_binning = false;
  request.devices = 2;
  request.dtype = at::kFloat;
  request.link = link_of(2e9, 50e-6);
  request.flops_per_second = 1e9;
  parallel::ParallelConfig ulysses, ring;
  ulysses.ulysses_degree = 2;
  ring.ring_degree = 2;
  const PlannedMesh plain_ulysses = predict_mesh(folder, request, ulysses);
  const PlannedMesh plain_ring = predict_mesh(folder, request, ring);

  const Calibration c = sample();
  use_calibration(c, request);
  request.link = c.link;
  EXPECT_DOUBLE_EQ(request.flops_per_second, c.flops_per_second);
  const PlannedMesh calibrated_ulysses = predict_mesh(folder, request, ulysses);
  // The all-to-all's bytes take 3× as long; its messages as long as before.
  const double bytes_time = calibrated_ulysses.bytes_sent_per_step / c.link.bandwidth;
  EXPECT_NEAR(calibrated_ulysses.comm_seconds - plain_ulysses.comm_seconds, 2 * bytes_time, 1e-12);
  // Ring's bytes cost its core as much as the link: they do not hide.
  const PlannedMesh calibrated_ring = predict_mesh(folder, request, ring);
  EXPECT_GT(plain_ring.hidden_seconds, 0);
  EXPECT_LT(calibrated_ring.hidden_seconds, plain_ring.hidden_seconds);
  EXPECT_GE(calibrated_ring.seconds_per_step,
            calibrated_ring.compute_seconds +
                calibrated_ring.bytes_sent_per_step / c.host_copy_bandwidth);
  EXPECT_NEAR(
      static_cast<double>(calibrated_ring.memory_per_rank_bytes - plain_ring.memory_per_rank_bytes),
      c.base_memory_bytes, 1.0);
}

}  // namespace
}  // namespace xdit::plan
