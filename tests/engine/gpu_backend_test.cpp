// The CUDA backend against the CPU reference, in the manner of llama.cpp's
// test-backend-ops: each model of the built-in pipeline is built twice from
// the same folder, once per device, given the same inputs, and the outputs
// compared; then a whole generation. Labelled `gpu` in CTest; every test
// skips, saying why, where no GPU is visible (this build's LibTorch has no
// CUDA, or the machine has no GPU).
//
// Tolerances (docs/testing.md, form 3): the CPU runs each model in float32
// and in float64; float32's own error there, e = max|f32 - f64|, bounds
// what another float32 evaluation that sums in other orders may differ by
// (cuBLAS and cuDNN with TF32 off are such an evaluation), and the GPU in
// bfloat16 is held to the bfloat16 form of the same measured bound. An
// off-by-one row, a missing bias or a wrong scale moves outputs by O(1).

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "core/device.hpp"
#include "core/gpu_info.hpp"
#include "core/torch_compat.hpp"
#include "io/model_folder.hpp"
#include "io/reference_vector.hpp"
#include "models/attention.hpp"
#include "models/autoencoder_kl.hpp"
#include "models/dit_loader.hpp"
#include "models/pixart_transformer.hpp"
#include "models/t5_encoder.hpp"
#include "pipelines/builtin_models.hpp"
#include "pipelines/dit_pipeline.hpp"
#include "support/rounding.hpp"

namespace xdit {
namespace {

using testing::kBFloat16Unit;
using testing::max_difference;
using testing::measured_error_bound;
using testing::measured_reorder_bound;

#define REQUIRE_GPU()           \
  if (cuda_device_count() == 0) \
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

at::Device gpu() {
  return {at::kCUDA, 0};
}

// The CPU's float32 result and its float64 twin: the reference and the
// measure of float32's own rounding on these inputs.
struct CpuReference {
  at::Tensor f32, f64;
  double reorder_bound() const { return measured_reorder_bound(f32, f64); }
};

template <typename Run>
CpuReference on_cpu(const Run& run) {
  return {run(at::kFloat, at::Device(at::kCPU)), run(at::kDouble, at::Device(at::kCPU))};
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
  const auto run = [&](at::ScalarType dtype, at::Device device) {
    const auto on = [&](const at::Tensor& t) { return t.to(device, dtype); };
    return models::attention(on(q), on(k), on(v), on(bias), 0.25);
  };
  const CpuReference cpu = on_cpu(run);
  const at::Tensor cuda = run(at::kFloat, gpu());
  EXPECT_TRUE(cuda.is_cuda());
  EXPECT_LE(max_difference(cuda, cpu.f32), cpu.reorder_bound());
  // The log-sum-exp form the parallel methods merge.
  const models::PartialAttention partial =
      models::attention_partial(q.to(gpu()), k.to(gpu()), v.to(gpu()), bias.to(gpu()), 0.25);
  EXPECT_LE(max_difference(partial.out, cpu.f32), cpu.reorder_bound());
}

TEST(GpuBackend, PixArtTransformerFloat32MatchesCpu) {
  REQUIRE_GPU();
  const FullFloat32 exact;
  const CpuReference cpu = on_cpu(run_pixart);
  const at::Tensor cuda = run_pixart(at::kFloat, gpu());
  EXPECT_TRUE(cuda.is_cuda());
  EXPECT_LE(max_difference(cuda, cpu.f32), cpu.reorder_bound());
}

// An MMDiT through the DiT seam, with the weights and inputs of its
// reference vector: the latent as the pipeline holds it, the scheduler's
// timestep.
at::Tensor run_mmdit(const std::string& name, at::ScalarType dtype, at::Device device) {
  const io::ReferenceVector vector(std::filesystem::path(XDIT_TEST_DATA_DIR) / "golden" /
                                   (name + ".safetensors"));
  const models::DitFamily family = models::dit_family(vector.class_name(), name);
  const auto model = models::load_dit(family, vector.config(), vector.weights(dtype).to(device));
  const bool flux = family == models::DitFamily::kFlux;
  models::DitInputs inputs;
  inputs.text = vector.input("encoder_hidden_states");
  inputs.pooled_text = vector.input("pooled_projections");
  const at::Tensor timestep = vector.input("timestep") * (flux ? 1000 : 1);
  const at::Tensor latent = flux ? vector.aux("latents") : vector.input("hidden_states");
  return model->predict(latent, timestep, inputs);
}

// Joint attention, RMS q/k norms, SD3.5's dual attention, Flux's rotary
// positions and single blocks on the GPU's kernels.
TEST(GpuBackend, MMDiTTransformersFloat32MatchCpu) {
  REQUIRE_GPU();
  const FullFloat32 exact;
  for (const std::string name : {"sd35_tiny", "flux_tiny_schnell"}) {
    SCOPED_TRACE(name);
    const auto run = [&](at::ScalarType dtype, at::Device device) {
      return run_mmdit(name, dtype, device);
    };
    const CpuReference cpu = on_cpu(run);
    const at::Tensor cuda = run(at::kFloat, gpu());
    EXPECT_TRUE(cuda.is_cuda());
    EXPECT_LE(max_difference(cuda, cpu.f32), cpu.reorder_bound());
  }
}

TEST(GpuBackend, PixArtTransformerBfloat16WithinBfloat16Rounding) {
  REQUIRE_GPU();
  const CpuReference cpu = on_cpu(run_pixart);
  EXPECT_LE(max_difference(run_pixart(at::kBFloat16, gpu()), cpu.f64),
            measured_error_bound(cpu.f32, cpu.f64, kBFloat16Unit));
}

TEST(GpuBackend, T5EncoderFloat32MatchesCpu) {
  REQUIRE_GPU();
  const FullFloat32 exact;
  const auto config = models::T5Config::from_config(tiny_pixart().config("text_encoder"));
  const at::Tensor ids = at::randint(2, config.vocab_size, {2, 12}, at::kLong);
  at::Tensor mask = at::ones({2, 12}, at::kLong);
  mask[0].narrow(0, 8, 4).zero_();
  const auto run = [&](at::ScalarType dtype, at::Device device) {
    return models::T5Encoder(config, weights_of("text_encoder", dtype, device)).forward(ids, mask);
  };
  const CpuReference cpu = on_cpu(run);
  const at::Tensor cuda = run(at::kFloat, gpu());
  EXPECT_TRUE(cuda.is_cuda());
  EXPECT_LE(max_difference(cuda, cpu.f32), cpu.reorder_bound());
}

TEST(GpuBackend, VaeDecoderFloat32MatchesCpu) {
  REQUIRE_GPU();
  const FullFloat32 exact;
  const auto config = models::AutoencoderKLConfig::from_config(tiny_pixart().config("vae"));
  at::manual_seed(5);
  const at::Tensor z = at::randn({1, config.latent_channels, 12, 16});
  const auto run = [&](at::ScalarType dtype, at::Device device) {
    return models::AutoencoderKL(config, weights_of("vae", dtype, device),
                                 models::AutoencoderKL::Parts::kDecoder)
        .decode(z);
  };
  const CpuReference cpu = on_cpu(run);
  const at::Tensor cuda = run(at::kFloat, gpu());
  EXPECT_TRUE(cuda.is_cuda());
  EXPECT_LE(max_difference(cuda, cpu.f32), cpu.reorder_bound());
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
  const auto generate = [&](at::ScalarType dtype, at::Device device) {
    pipelines::PipelineOptions options;
    options.dtype = dtype;
    options.device = device;
    return pipelines::DitPipeline::load(tiny_pixart(), options).generate(request);
  };
  const auto cpu = generate(at::kFloat, at::kCPU);
  const auto cpu64 = generate(at::kDouble, at::kCPU);
  const auto cuda = generate(at::kFloat, gpu());
  ASSERT_TRUE(cuda.latents.device().is_cpu()) << "results come back to the host";
  EXPECT_LE(testing::scaled_difference(cuda.latents, cpu.latents),
            testing::scaled_reorder_bound(cpu.latents, cpu64.latents));
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

TEST(DeviceSelection, GpuListsAreCommaSeparatedNumbersEachOnce) {
  EXPECT_EQ(parse_gpu_list("0,2"), (std::vector<int>{0, 2}));
  EXPECT_EQ(parse_gpu_list("3"), (std::vector<int>{3}));
  for (const char* bad : {"", "0,,1", "0,", "a", "1,1", "-1", "0 ,1", "12345"}) {
    try {
      parse_gpu_list(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("--gpus"), std::string::npos) << e.what();
    }
  }
}

TEST(DeviceSelection, CommBackendFollowsTheDeviceAndRefusesNcclOnCpus) {
  const at::Device gpu(at::kCUDA, 0);
  EXPECT_EQ(resolve_comm("auto", at::kCPU), CommBackend::kGloo);
  EXPECT_EQ(resolve_comm("auto", gpu), CommBackend::kNccl);
  EXPECT_EQ(resolve_comm("gloo", gpu), CommBackend::kGloo);
  EXPECT_EQ(resolve_comm("nccl", gpu), CommBackend::kNccl);
  EXPECT_THROW(resolve_comm("mpi", gpu), UsageError);
  try {
    resolve_comm("nccl", at::kCPU);
    FAIL() << "expected a refusal";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("--comm nccl"), std::string::npos) << e.what();
  }
  // Only Gloo carrying GPU tensors goes through host copies.
  EXPECT_TRUE((ComputeTarget{gpu, at::kBFloat16, CommBackend::kGloo}.host_staged()));
  EXPECT_FALSE((ComputeTarget{gpu, at::kBFloat16, CommBackend::kNccl}.host_staged()));
  EXPECT_FALSE((ComputeTarget{at::kCPU, at::kFloat, CommBackend::kGloo}.host_staged()));
  EXPECT_EQ(resolve_target("cpu", "auto", "auto").comm, CommBackend::kGloo);
  EXPECT_THROW(resolve_target("cpu", "auto", "nccl"), UsageError);
}

// Ranks of one machine take one GPU each, or share them under --comm gloo.
TEST(GpuBackend, RanksBeyondTheGpusShareThemOnlyWithGloo) {
  const int count = cuda_device_count();
  if (count == 0)
    GTEST_SKIP() << "no GPU: " << cuda_unavailable_reason();
  EXPECT_EQ(resolve_device("cuda", count - 1), at::Device(at::kCUDA, count - 1));
  EXPECT_EQ(resolve_device("cuda", count, /*share_gpus=*/true), at::Device(at::kCUDA, 0));
  try {
    resolve_device("cuda", count);
    FAIL() << "expected a refusal";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("--comm gloo"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace xdit
