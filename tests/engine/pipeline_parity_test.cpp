// Whole pipelines against diffusers: builtin:tiny-sd3 (an SD3.5-like MMDiT
// with two CLIPs, T5 and classifier-free guidance) and builtin:tiny-flux (a
// Flux.1-dev-like one with guidance embedding and the dynamically shifted
// schedule), run by diffusers' StableDiffusion3Pipeline and FluxPipeline on
// the same folders (scripts/make_pipeline_vectors.py). The engine must give
// the same image within one 8-bit level, and final latents within the
// rounding of another float32 evaluation, measured against its float64 run.

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "core/torch_compat.hpp"
#include "io/weight_source.hpp"
#include "pipelines/builtin_models.hpp"
#include "pipelines/dit_pipeline.hpp"
#include "support/rounding.hpp"

namespace xdit::pipelines {
namespace {

struct Reference {
  at::Tensor images;   // uint8 [N, H, W, 3]
  at::Tensor latents;  // diffusers' layout (Flux: packed)
  GenerationRequest request;
  std::string builtin;
};

Reference read_reference(const std::string& name) {
  const auto path =
      std::filesystem::path(XDIT_TEST_DATA_DIR) / "pipelines" / (name + ".safetensors");
  const auto file = io::SafetensorsWeights::open(path);
  Reference reference;
  reference.images = file->load("images");
  reference.latents = file->load("latents");
  reference.builtin = file->metadata().at("builtin");
  const nlohmann::json settings = nlohmann::json::parse(file->metadata().at("settings"));
  GenerationRequest& request = reference.request;
  request.prompts = {settings["prompt"].get<std::string>()};
  request.negative_prompt = settings.value("negative_prompt", "");
  request.height = settings["height"].get<int64_t>();
  request.width = settings["width"].get<int64_t>();
  request.num_inference_steps = settings["num_inference_steps"].get<int64_t>();
  request.guidance_scale = settings["guidance_scale"].get<double>();
  request.seed = settings["seed"].get<uint64_t>();
  return reference;
}

// diffusers' packed Flux latents [B, (h/2)(w/2), 4C] as [B, C, h, w].
at::Tensor unpacked(const at::Tensor& packed, int64_t height, int64_t width) {
  const int64_t b = packed.size(0);
  const int64_t c = packed.size(2) / 4;
  return packed.view({b, height / 2, width / 2, c, 2, 2})
      .permute({0, 3, 1, 4, 2, 5})
      .reshape({b, c, height, width});
}

void expect_diffusers_image(const std::string& name) {
  const compat::InferenceGuard no_grad;
  const Reference reference = read_reference(name);
  const io::ModelFolder folder(resolve_model(
      reference.builtin, std::filesystem::path(::testing::TempDir()) / "xdit-parity-test"));
  const GenerationResult result = DitPipeline::load(folder).generate(reference.request);
  ASSERT_EQ(result.images.sizes(), reference.images.sizes());
  const at::Tensor levels = (result.images.to(at::kInt) - reference.images.to(at::kInt)).abs();
  EXPECT_LE(levels.max().item<int>(), 1) << "pixels more than one level apart";

  PipelineOptions in_float64;
  in_float64.dtype = at::kDouble;
  GenerationRequest latent_only = reference.request;
  latent_only.decode = false;
  const at::Tensor latents64 = DitPipeline::load(folder, in_float64).generate(latent_only).latents;
  at::Tensor expected = reference.latents;
  if (expected.dim() == 3)
    expected = unpacked(expected, result.latents.size(2), result.latents.size(3));
  ASSERT_EQ(result.latents.sizes(), expected.sizes());
  EXPECT_LE(xdit::testing::max_difference(result.latents, expected),
            xdit::testing::measured_reorder_bound(result.latents, latents64));
}

TEST(PipelineParity, TinySD3GivesDiffusersImage) {
  expect_diffusers_image("tiny_sd3");
}

TEST(PipelineParity, TinyFluxGivesDiffusersImage) {
  expect_diffusers_image("tiny_flux");
}

}  // namespace
}  // namespace xdit::pipelines
