// The CUDA backend against the CPU reference, in the manner of llama.cpp's
// test-backend-ops: each model of the built-in pipeline is built twice from
// the same folder, once per device, given the same inputs, and the outputs
// compared; then a whole generation. Labelled `gpu` in CTest; every test
// skips, saying why, where no GPU is visible (this build's LibTorch has no
// CUDA, or the machine has no GPU).
//
// Tolerances (docs/testing.md). float32: TF32 is turned off, so both devices
// round every product and sum to float32 but add in other orders (blocked
// GEMMs, cuDNN convolutions); the difference of two such sums of n terms is
// at most ~2·n·u·Σ|terms| (u = 2^-24) and, with random signs, ~sqrt(n)·u of
// it in practice. These models reduce over at most n = 512 terms per output
// (VAE 3x3 convolutions over 64 channels) through < 40 dependent ops, which
// keeps the difference below 40 · 512 · 2^-24 ≈ 1.2e-3 of the output scale at
// worst and ~1e-5 typically: the 1e-4 of scale sits between, and an
// off-by-one row, a missing bias or a wrong scale moves outputs by O(1).
// bfloat16 (u = 2^-8): the GPU in bfloat16 against the CPU in float32 may
// differ by what bfloat16 itself costs; that cost is measured in the same
// run by the CPU in bfloat16, and the GPU may be off by twice it plus one
// bfloat16 rounding of the output scale.

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/device.hpp"
#include "core/gpu_info.hpp"
#include "core/torch_compat.hpp"
#include "io/model_folder.hpp"
#include "models/attention.hpp"
#include "models/autoencoder_kl.hpp"
#include "models/pixart_transformer.hpp"
#include "models/t5_encoder.hpp"
#include "pipelines/builtin_models.hpp"
#include "pipelines/pixart_pipeline.hpp"

namespace xdit {
namespace {

constexpr double kFloat32Tolerance = 1e-4;  // of the output's scale, see above
constexpr double kBfloat16Unit = 1.0 / 256;

#define REQUIRE_GPU()                                                     \
  if (cuda_device_count() == 0)                                           \
  GTEST_SKIP() << "no GPU to test: " << cuda_unavailable_reason()

// TF32 off for the test's lifetime: float32 means float32 here.
class FullFloat32 {
 public:
  FullFloat32()
      : cublas_(at::globalContext().allowTF32CuBLAS()),
        cudnn_(at::globalContext().allowTF32CuDNN()) {
    at::globalContext().setAllowTF32CuBLAS(false);
    at::globalContext().setAllowTF32CuDNN(false);
  }
  ~FullFloat32() {
    at::globalContext().setAllowTF32CuBLAS(cublas_);
    at::globalContext().setAllowTF32CuDNN(cudnn_);
  }

 private:
  bool cublas_, cudnn_;
};

at::Device gpu() { return {at::kCUDA, 0}; }

// Largest difference over the reference's largest magnitude, in float64.
double scaled_difference(const at::Tensor& got, const at::Tensor& reference) {
  const at::Tensor want = reference.to(at::kCPU, at::kDouble);
  const double scale = std::max(want.abs().max().item<double>(), 1e-30);
  return (got.to(at::kCPU, at::kDouble) - want).abs().max().item<double>() / scale;
}

const io::ModelFolder& tiny_pixart() {
  static const io::ModelFolder folder(pipelines::resolve_model("builtin:tiny-pixart"));
  return folder;
}

io::Weights weights_of(const std::string& component, at::ScalarType dtype, at::Device device) {
  return io::Weights(tiny_pixart().weights(component), dtype).to(device);
}

struct PixArtInputs {
  at::Tensor latent, text, timestep, mask;
};

PixArtInputs pixart_inputs(const models::PixArtConfig& config) {
  at::manual_seed(7);
  PixArtInputs in;
  in.latent = at::randn({2, config.in_channels, 16, 24});
  in.text = at::randn({2, 9, *config.caption_channels});
  in.timestep = at::tensor({999, 13}, at::kLong);
  in.mask = at::ones({2, 9}, at::kLong);
  in.mask[1].narrow(0, 5, 4).zero_();  // a padded prompt
  return in;
}

at::Tensor run_pixart(at::ScalarType dtype, at::Device device) {
  const auto config = models::PixArtConfig::from_config(tiny_pixart().config("transformer"));
  const models::PixArtTransformer model(config, weights_of("transformer", dtype, device));
  const PixArtInputs in = pixart_inputs(config);
  return model.forward(in.latent, in.text, in.timestep, in.mask, {}, {});
}

TEST(GpuBackend, FusedAttentionMatchesTheCpuKernel) {
  REQUIRE_GPU();
  const FullFloat32 exact;
  at::manual_seed(3);
  const at::Tensor q = at::randn({2, 3, 37, 16});
  const at::Tensor k = at::randn({2, 3, 50, 16});
  const at::Tensor v = at::randn({2, 3, 50, 16});
  at::Tensor bias = at::zeros({2, 1, 1, 50});
  bias[1].narrow(-1, 40, 10).fill_(-std::numeric_limits<float>::infinity());
  const at::Tensor cpu = models::attention(q, k, v, bias, 0.25);
  const at::Tensor cuda =
      models::attention(q.to(gpu()), k.to(gpu()), v.to(gpu()), bias.to(gpu()), 0.25);
  EXPECT_TRUE(cuda.is_cuda());
  EXPECT_LE(scaled_difference(cuda, cpu), kFloat32Tolerance);
}

TEST(GpuBackend, PixArtTransformerFloat32MatchesCpu) {
  REQUIRE_GPU();
  const FullFloat32 exact;
  const at::Tensor cpu = run_pixart(at::kFloat, at::kCPU);
  const at::Tensor cuda = run_pixart(at::kFloat, gpu());
  EXPECT_TRUE(cuda.is_cuda());
  EXPECT_LE(scaled_difference(cuda, cpu), kFloat32Tolerance);
}

TEST(GpuBackend, PixArtTransformerBfloat16WithinWhatBfloat16Costs) {
  REQUIRE_GPU();
  const at::Tensor reference = run_pixart(at::kFloat, at::kCPU);
  const double cpu_cost = scaled_difference(run_pixart(at::kBFloat16, at::kCPU), reference);
  const double gpu_error = scaled_difference(run_pixart(at::kBFloat16, gpu()), reference);
  EXPECT_GT(cpu_cost, 0.0) << "bfloat16 on the CPU should round";
  EXPECT_LE(gpu_error, 2 * cpu_cost + kBfloat16Unit) << "CPU bfloat16 cost " << cpu_cost;
}

TEST(GpuBackend, T5EncoderFloat32MatchesCpu) {
  REQUIRE_GPU();
  const FullFloat32 exact;
  const auto config = models::T5Config::from_config(tiny_pixart().config("text_encoder"));
  const at::Tensor ids = at::randint(2, config.vocab_size, {2, 12}, at::kLong);
  at::Tensor mask = at::ones({2, 12}, at::kLong);
  mask[0].narrow(0, 8, 4).zero_();
  const models::T5Encoder cpu(config, weights_of("text_encoder", at::kFloat, at::kCPU));
  const models::T5Encoder cuda(config, weights_of("text_encoder", at::kFloat, gpu()));
  const at::Tensor out = cuda.forward(ids, mask);
  EXPECT_TRUE(out.is_cuda());
  EXPECT_LE(scaled_difference(out, cpu.forward(ids, mask)), kFloat32Tolerance);
}

TEST(GpuBackend, VaeDecoderFloat32MatchesCpu) {
  REQUIRE_GPU();
  const FullFloat32 exact;
  const auto config = models::AutoencoderKLConfig::from_config(tiny_pixart().config("vae"));
  const auto parts = models::AutoencoderKL::Parts::kDecoder;
  const models::AutoencoderKL cpu(config, weights_of("vae", at::kFloat, at::kCPU), parts);
  const models::AutoencoderKL cuda(config, weights_of("vae", at::kFloat, gpu()), parts);
  at::manual_seed(5);
  const at::Tensor z = at::randn({1, config.latent_channels, 12, 16});
  const at::Tensor out = cuda.decode(z);
  EXPECT_TRUE(out.is_cuda());
  EXPECT_LE(scaled_difference(out, cpu.decode(z)), kFloat32Tolerance);
}

TEST(GpuBackend, GenerationOnTheGpuGivesTheCpuImage) {
  REQUIRE_GPU();
  const FullFloat32 exact;
  pipelines::GenerationRequest request;
  request.prompts = {"a red house by a lake"};
  request.height = 128;
  request.width = 192;
  request.num_inference_steps = 3;
  request.seed = 11;
  pipelines::PipelineOptions options;
  const auto cpu = pipelines::PixArtPipeline::load(tiny_pixart(), options).generate(request);
  options.device = gpu();
  const auto cuda = pipelines::PixArtPipeline::load(tiny_pixart(), options).generate(request);
  ASSERT_TRUE(cuda.latents.device().is_cpu()) << "results come back to the host";
  EXPECT_LE(scaled_difference(cuda.latents, cpu.latents), kFloat32Tolerance);
  // Pixels: within one 8-bit level (a value on a rounding edge may flip).
  EXPECT_LE((cuda.images.to(at::kInt) - cpu.images.to(at::kInt)).abs().max().item<int>(), 1);
}

TEST(GpuBackend, MemoryFiguresArePlausible) {
  REQUIRE_GPU();
  reset_gpu_peak(0);
  const GpuMemory before = gpu_memory(0);
  at::Tensor block = at::empty({64, 1024, 1024}, at::TensorOptions(gpu()).dtype(at::kFloat));
  const GpuMemory during = gpu_memory(0);
  EXPECT_FALSE(gpu_name(0).empty());
  EXPECT_GE(during.allocated_bytes - before.allocated_bytes, 256LL << 20);
  EXPECT_GE(during.peak_allocated_bytes, during.allocated_bytes);
  EXPECT_GE(during.reserved_bytes, during.allocated_bytes);
  EXPECT_GT(during.device_total_bytes, during.device_used_bytes);
  EXPECT_GE(during.device_used_bytes, during.reserved_bytes);
  block.reset();
  EXPECT_LT(gpu_memory(0).allocated_bytes, during.allocated_bytes);
  EXPECT_EQ(gpu_memory(0).peak_allocated_bytes, during.peak_allocated_bytes);
}

// Runs everywhere: without a GPU, asking for one is refused by name.
TEST(DeviceSelection, CudaWithoutAGpuIsRefusedNamingTheFlag) {
  if (cuda_device_count() > 0)
    GTEST_SKIP() << "a GPU is visible";
  EXPECT_EQ(resolve_device("auto"), at::Device(at::kCPU));
  try {
    resolve_device("cuda");
    FAIL() << "expected a refusal";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("--device cuda"), std::string::npos) << e.what();
    EXPECT_FALSE(cuda_unavailable_reason().empty());
  }
  EXPECT_EQ(gpu_name(0), "");
  EXPECT_EQ(gpu_memory(0).device_total_bytes, 0);
}

TEST(DeviceSelection, DtypesAndDevicesParse) {
  EXPECT_EQ(resolve_device("cpu"), at::Device(at::kCPU));
  EXPECT_EQ(resolve_dtype("auto", at::kCPU), at::kFloat);
  EXPECT_EQ(resolve_dtype("auto", at::Device(at::kCUDA, 0)), at::kBFloat16);
  EXPECT_EQ(resolve_dtype("bf16", at::kCPU), at::kBFloat16);
  EXPECT_EQ(resolve_dtype("fp16", at::kCPU), at::kHalf);
  EXPECT_THROW(resolve_dtype("float8", at::kCPU), UsageError);
  EXPECT_THROW(resolve_device("tpu"), UsageError);
  EXPECT_THROW(resolve_device("cuda:x"), UsageError);
  EXPECT_EQ(dtype_name(at::kBFloat16), "bfloat16");
}

}  // namespace
}  // namespace xdit
