// Patch-parallel VAE decoding (--use_parallel_vae) on real process groups:
// the bands decoded on 2 and 3 ranks, gathered, are the single-process
// decode (float32, within its own rounding), for uneven bands and a non-square latent,
// with and without chunked convolutions; a whole 2-rank generation with it
// gives the serial run's image.

#include "parallel/parallel_vae.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <spdlog/fmt/fmt.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "bench/memory.hpp"
#include "bench/vae_cases.hpp"
#include "core/error.hpp"
#include "core/torch_compat.hpp"
#include "pipelines/dit_pipeline.hpp"
#include "process_group_harness.hpp"
#include "serial_comparison.hpp"
#include "support/rounding.hpp"
#include "test_models.hpp"

namespace xdit::parallel {
namespace {

using testing::run_process_group;

// Three blocks (4x), groups of 4, mid-block attention: small and unlike the
// built-in VAE.
models::AutoencoderKLConfig small_vae_config() {
  models::AutoencoderKLConfig config;
  config.down_block_types.assign(3, "DownEncoderBlock2D");
  config.up_block_types.assign(3, "UpDecoderBlock2D");
  config.block_out_channels = {8, 16, 16};
  config.norm_num_groups = 4;
  return config;
}

// builtin:tiny-pixart's VAE shape: four blocks (8x), 32 and 64 channels,
// groups of 8.
models::AutoencoderKLConfig builtin_shape_config() {
  models::AutoencoderKLConfig config;
  config.down_block_types.assign(4, "DownEncoderBlock2D");
  config.up_block_types.assign(4, "UpDecoderBlock2D");
  config.block_out_channels = {32, 32, 64, 64};
  config.norm_num_groups = 8;
  return config;
}

// Every rank decodes `z` [batch, 4, rows, cols] in bands and alone, and
// compares the two.
void expect_bands_equal_serial(int ranks, const models::AutoencoderKLConfig& config,
                               std::vector<int64_t> latent_shape, int64_t chunk_rows = 0) {
  run_process_group(ranks, [&](Communicator& comm, int rank) {
    const compat::InferenceGuard no_grad;
    const auto vae = bench::random_vae_decoder(config, 41);
    at::manual_seed(13);
    const at::Tensor z = at::randn(latent_shape);
    const at::Tensor banded = decode_in_bands(*vae, z, comm.world(), chunk_rows);
    const at::Tensor serial = vae->decode(z);
    ASSERT_EQ(banded.sizes(), serial.sizes()) << "rank " << rank;
    // Bands convolve fewer rows at a time, which a BLAS may sum in other
    // orders: the bar is the whole decode's float32 rounding, measured
    // against float64.
    const at::Tensor serial64 =
        bench::random_vae_decoder(config, 41, at::kDouble)->decode(z.to(at::kDouble));
    EXPECT_LE(xdit::testing::max_difference(banded, serial),
              xdit::testing::measured_reorder_bound(serial, serial64))
        << "rank " << rank << " of " << ranks;
  });
}

TEST(ParallelVae, TwoRanksUnevenBandsNonSquare) {
  // 7 latent rows: bands of 4 and 3.
  expect_bands_equal_serial(2, small_vae_config(), {2, 4, 7, 5});
}

TEST(ParallelVae, ThreeRanksUnevenBandsNonSquare) {
  // 8 latent rows: bands of 3, 3 and 2; one-row-thick halos at every stage.
  expect_bands_equal_serial(3, small_vae_config(), {1, 4, 8, 11});
}

TEST(ParallelVae, ThreeRanksOneLatentRowEach) {
  expect_bands_equal_serial(3, small_vae_config(), {1, 4, 3, 6});
}

TEST(ParallelVae, BuiltinShapeOnTwoRanks) {
  expect_bands_equal_serial(2, builtin_shape_config(), {1, 4, 6, 10});
}

TEST(ParallelVae, BandsWithChunkedConvolutions) {
  expect_bands_equal_serial(3, small_vae_config(), {1, 4, 10, 6}, /*chunk_rows=*/5);
}

TEST(ParallelVae, MoreRanksThanLatentRowsIsAUsageErrorOnEveryRank) {
  run_process_group(3, [](Communicator& comm, int) {
    const compat::InferenceGuard no_grad;
    const auto vae = bench::random_vae_decoder(small_vae_config(), 41);
    const at::Tensor z = at::randn({1, 4, 2, 6});
    try {
      decode_in_bands(*vae, z, comm.world());
      ADD_FAILURE() << "decoded 2 latent rows on 3 ranks";
    } catch (const UsageError& error) {
      const std::string message = error.what();
      EXPECT_NE(message.find("--use_parallel_vae"), std::string::npos) << message;
      EXPECT_NE(message.find("image height 8"), std::string::npos) << message;
      EXPECT_NE(message.find("3 ranks"), std::string::npos) << message;
    }
  });
}

// A whole generation, the VAE decoded over the world: the denoising runs on
// cfg ranks or data ranks, then both ranks decode bands of every image.
void expect_generation_equals_serial(const ParallelConfig& config) {
  pipelines::GenerationRequest request;
  request.prompts = {"a small red house by a lake", "fog"};
  request.height = 128;
  request.width = 192;
  request.num_inference_steps = 2;
  request.use_resolution_binning = false;
  request.seed = 5;
  request.max_sequence_length = 32;
  testing::SerialCheck check;
  check.on_rank = [](Communicator& comm, const pipelines::DitPipeline& pipeline,
                     const pipelines::GenerationResult&) {
    EXPECT_TRUE(pipeline.decodes()) << "rank " << comm.mesh()->rank() << " did not load the VAE";
  };
  // Images within one 8-bit level of serial's, the latents within the serial
  // run's own rounding.
  testing::expect_serial_result(testing::tiny_pixart_folder(), config, request, check);
}

TEST(ParallelVaePipeline, CfgParallelThenVaeOverTwoRanks) {
  ParallelConfig config;
  config.cfg_degree = 2;
  config.use_parallel_vae = true;
  expect_generation_equals_serial(config);
}

TEST(ParallelVaePipeline, DataParallelThenVaeOverTwoRanks) {
  ParallelConfig config;
  config.data_degree = 2;
  config.use_parallel_vae = true;
  expect_generation_equals_serial(config);
}

std::string memory_report(int rank) {
  return ::testing::TempDir() + "/xdit-parallel-vae-memory-rank" + std::to_string(rank) + ".txt";
}

// Peak memory of a 2048 x 2048 decode (random 256 x 256 latents, the
// built-in VAE's shape) on each of two ranks, with whole bands and with
// bands convolved in chunks of rows; a measurement, not a check, run with
// GTEST_ALSO_RUN_DISABLED_TESTS=1 (the rank processes inherit it) and
// --gtest_filter=ParallelVaeMemory.*
TEST(ParallelVaeMemory, DISABLED_Decode2048OnTwoRanks) {
  testing::GroupRunOptions options;
  options.op_timeout = std::chrono::minutes(5);
  options.run_timeout = std::chrono::minutes(10);
  for (const int64_t chunk_rows : {int64_t{0}, bench::kBenchChunkRows}) {
    // Each group is a fresh pair of processes: the peaks do not mix.
    run_process_group(
        2,
        [&](Communicator& comm, int rank) {
          const compat::InferenceGuard no_grad;
          const auto vae = bench::random_vae_decoder(bench::builtin_vae_config(), 0);
          at::manual_seed(0);
          const at::Tensor z = at::randn({1, 4, 256, 256});
          bench::reset_peak_memory();
          const int64_t before = bench::memory_usage().resident_bytes;
          const auto start = std::chrono::steady_clock::now();
          const at::Tensor image = decode_in_bands(*vae, z, comm.world(), chunk_rows);
          const double seconds =
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
          const bench::MemoryUsage memory = bench::memory_usage();
          std::ofstream(memory_report(rank)) << fmt::format(
              "rank {}: {:.1f} s, peak RSS {:.0f} MiB (growth {:.0f} MiB), image {}", rank, seconds,
              memory.peak_resident_bytes / 1048576.0,
              (memory.peak_resident_bytes - before) / 1048576.0, c10::str(image.sizes()));
        },
        options);
    for (int rank = 0; rank < 2; ++rank) {
      std::ifstream report(memory_report(rank));
      std::string line;
      std::getline(report, line);
      std::printf("2048 x 2048 decode on 2 ranks, %s, %s\n",
                  chunk_rows > 0 ? "chunks of 64 rows" : "whole bands", line.c_str());
    }
  }
}

}  // namespace
}  // namespace xdit::parallel
