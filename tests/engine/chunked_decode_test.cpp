// Convolutions by chunks of rows (models/chunked_conv) give what whole-map
// convolutions give, alone and through a whole VAE decode.

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "bench/vae_cases.hpp"
#include "core/error.hpp"
#include "core/torch_compat.hpp"
#include "models/chunked_conv.hpp"
#include "pipelines/builtin_models.hpp"
#include "pipelines/dit_pipeline.hpp"
#include "support/rounding.hpp"

namespace xdit::models {
namespace {

using xdit::testing::max_difference;
using xdit::testing::measured_reorder_bound;

// Chunks and whole maps are two float32 evaluations of the same sums in
// other orders: within twice float32's bound of the exact convolution.
double conv_reorder_bound(const at::Tensor& x, const Conv2d& conv) {
  return 2 * xdit::testing::max_magnitude(
                 xdit::testing::conv2d_bound(x, conv.weight, conv.bias, conv.stride, conv.padding));
}

Conv2d in_float64(const Conv2d& conv) {
  Conv2d copy = conv;
  copy.weight = conv.weight.to(at::kDouble);
  copy.bias = conv.bias.to(at::kDouble);
  return copy;
}

Conv2d random_conv(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1,
                   int64_t padding = -1) {
  Conv2d conv;
  conv.weight = at::randn({out, in, kernel, kernel}) / (kernel * std::sqrt(in));
  conv.bias = at::randn({out});
  conv.stride = stride;
  conv.padding = padding < 0 ? (kernel - 1) / 2 : padding;
  return conv;
}

// Three blocks, two resnets per up block but the last, groups of 4: small,
// and unlike the built-in VAE.
AutoencoderKLConfig small_vae_config() {
  AutoencoderKLConfig config;
  config.down_block_types.assign(3, "DownEncoderBlock2D");
  config.up_block_types.assign(3, "UpDecoderBlock2D");
  config.block_out_channels = {8, 16, 16};
  config.layers_per_block = 1;
  config.norm_num_groups = 4;
  config.out_channels = 3;
  return config;
}

TEST(ChunkedConv, ChunksOfAnySizeEqualTheWholeConvolution) {
  const compat::InferenceGuard no_grad;
  at::manual_seed(3);
  const at::Tensor x = at::randn({2, 5, 11, 7});
  for (const int64_t kernel : {1, 3, 5}) {
    const Conv2d conv = random_conv(5, 6, kernel);
    const at::Tensor whole = conv(x);
    for (const int64_t rows : {1, 2, 3, 4, 10, 11, 40}) {
      ChunkedSpatialOps ops(rows);
      EXPECT_LE(max_difference(ops.conv(x, conv), whole), conv_reorder_bound(x, conv))
          << "kernel " << kernel << ", chunks of " << rows;
    }
  }
}

TEST(ChunkedConv, RowsWithNeighboursEqualTheirPartOfTheWholeConvolution) {
  const compat::InferenceGuard no_grad;
  at::manual_seed(5);
  const at::Tensor x = at::randn({1, 4, 12, 9});
  const Conv2d conv = random_conv(4, 3, 3);
  const at::Tensor whole = conv(x);
  // Rows 5..8 with their neighbours 4 and 9 given; the first band's top and
  // the last band's bottom are the map's zero padding.
  const at::Tensor middle =
      conv_rows(x.narrow(2, 5, 4), conv, x.narrow(2, 4, 1), x.narrow(2, 9, 1), 3);
  const double bound = conv_reorder_bound(x, conv);
  EXPECT_LE(max_difference(middle, whole.narrow(2, 5, 4)), bound);
  const at::Tensor top = conv_rows(x.narrow(2, 0, 5), conv, {}, x.narrow(2, 5, 1), 2);
  EXPECT_LE(max_difference(top, whole.narrow(2, 0, 5)), bound);
  const at::Tensor bottom = conv_rows(x.narrow(2, 9, 3), conv, x.narrow(2, 8, 1), {}, 0);
  EXPECT_LE(max_difference(bottom, whole.narrow(2, 9, 3)), bound);
}

TEST(ChunkedConv, NormalisedOnTheWayInAndWrittenOverTheInput) {
  const compat::InferenceGuard no_grad;
  at::manual_seed(8);
  GroupNorm norm;
  norm.groups = 2;
  norm.eps = 1e-6;
  norm.weight = at::randn({6});
  norm.bias = at::randn({6});
  const at::Tensor x = at::randn({2, 6, 9, 5}) * 3 + 1;
  for (const int64_t kernel : {3, 5}) {
    const Conv2d conv = random_conv(6, 6, kernel);
    const at::Tensor expected = conv(at::silu(norm(x)));
    // The norm's sums too: float32's rounding measured against float64.
    GroupNorm norm64 = norm;
    norm64.weight = norm.weight.to(at::kDouble);
    norm64.bias = norm.bias.to(at::kDouble);
    const double bound =
        measured_reorder_bound(expected, in_float64(conv)(at::silu(norm64(x.to(at::kDouble)))));
    const RowTransform prepare = norm_activation(group_norm_affine(x, norm), Activation::kSilu);
    // Chunks thinner than the halo (kernel 5, one row) read rows that
    // earlier chunks overwrote: they must come from the saved copies.
    for (const int64_t rows : {1, 2, 4, 9}) {
      at::Tensor scratch = x.clone();
      const at::Tensor result = conv_rows(scratch, conv, {}, {}, rows, prepare, true);
      EXPECT_LE(max_difference(result, expected), bound) << "kernel " << kernel << ", " << rows;
      if (rows < 9) {
        EXPECT_TRUE(result.is_same(scratch)) << "not written over the input";
      }
    }
  }
}

TEST(ChunkedConv, RefusesWhatRowsCannotSplit) {
  const compat::InferenceGuard no_grad;
  const at::Tensor x = at::randn({1, 2, 8, 8});
  ChunkedSpatialOps ops(4);
  EXPECT_THROW(ops.conv(x, random_conv(2, 2, 3, /*stride=*/2, /*padding=*/0)), UsageError);
  EXPECT_THROW(ops.conv(x, random_conv(2, 2, 3, 1, /*padding=*/0)), UsageError);
  EXPECT_THROW(ChunkedSpatialOps(0), UsageError);
  const Conv2d conv = random_conv(2, 2, 3);
  EXPECT_THROW(conv_rows(x, conv, at::zeros({1, 2, 2, 8}), {}, 0), UsageError);
}

TEST(ChunkedDecode, EqualsThePlainDecodeOnANonSquareLatent) {
  const compat::InferenceGuard no_grad;
  const auto vae = bench::random_vae_decoder(small_vae_config(), 17);
  at::manual_seed(9);
  const at::Tensor z = at::randn({2, 4, 7, 5});
  const at::Tensor plain = vae->decode(z);
  ASSERT_EQ(plain.sizes(), (std::vector<int64_t>{2, 3, 28, 20}));
  // A whole decoder: float32's rounding measured against float64.
  const double bound = measured_reorder_bound(
      plain,
      bench::random_vae_decoder(small_vae_config(), 17, at::kDouble)->decode(z.to(at::kDouble)));
  for (const int64_t rows : {1, 3, 16}) {
    ChunkedSpatialOps ops(rows);
    EXPECT_LE(max_difference(vae->decode(z, ops), plain), bound) << "chunks of " << rows;
  }
}

TEST(ChunkedDecode, AutomaticChunksOnlyAboveAMegapixel) {
  EXPECT_EQ(automatic_chunk_rows(1024, 1024), 0);
  EXPECT_EQ(automatic_chunk_rows(512, 768), 0);
  EXPECT_EQ(automatic_chunk_rows(1024, 1032), kAutoChunkRows);
  EXPECT_EQ(automatic_chunk_rows(2048, 2048), kAutoChunkRows);
}

TEST(ChunkedDecode, PipelineOptionDecodesTheSameImage) {
  const compat::InferenceGuard no_grad;
  const io::ModelFolder folder(pipelines::resolve_model(
      "builtin:tiny-pixart", std::filesystem::path(::testing::TempDir()) / "xdit-chunked-test"));
  pipelines::PipelineOptions whole;
  whole.vae_chunk_rows = 0;
  pipelines::PipelineOptions chunked;
  chunked.vae_chunk_rows = 5;
  at::manual_seed(4);
  const at::Tensor latents = at::randn({1, 4, 12, 9});
  const at::Tensor expected = pipelines::DitPipeline::load(folder, whole).decode(latents);
  // The pipeline's image is the VAE's decode of latents / scaling_factor,
  // halved (and clamped, which only narrows differences): the bound is half
  // the decode's float32 rounding, measured against float64.
  const auto config = AutoencoderKLConfig::from_config(folder.config("vae"));
  const auto decode = [&](at::ScalarType dtype) {
    const AutoencoderKL vae(config, io::Weights(folder.weights("vae"), dtype),
                            AutoencoderKL::Parts::kDecoder);
    return vae.decode(latents.to(dtype) / config.scaling_factor);
  };
  EXPECT_LE(max_difference(pipelines::DitPipeline::load(folder, chunked).decode(latents), expected),
            measured_reorder_bound(decode(at::kFloat), decode(at::kDouble)) / 2);
}

}  // namespace
}  // namespace xdit::models
