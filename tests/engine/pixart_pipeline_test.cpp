#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "pipelines/builtin_models.hpp"
#include "pipelines/dit_pipeline.hpp"
#include "support/rounding.hpp"

namespace xdit::pipelines {
namespace {

// The built-in model is written once per test binary run and shared.
const std::filesystem::path& tiny_model_folder() {
  static const std::filesystem::path folder = resolve_model(
      "builtin:tiny-pixart", std::filesystem::path(::testing::TempDir()) / "xdit-pipeline-test");
  return folder;
}

const DitPipeline& tiny_pipeline() {
  static const DitPipeline pipeline = DitPipeline::load(io::ModelFolder(tiny_model_folder()));
  return pipeline;
}

GenerationRequest small_request() {
  GenerationRequest request;
  request.prompts = {"a small red house"};
  request.height = 64;
  request.width = 96;
  request.num_inference_steps = 3;
  request.use_resolution_binning = false;
  request.seed = 5;
  return request;
}

TEST(BuiltinModel, IsAnOrdinaryDiffusersFolderWrittenOnce) {
  const auto& folder = tiny_model_folder();
  for (const char* file :
       {"model_index.json", "transformer/config.json",
        "transformer/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors",
        "tokenizer/spiece.model", "vae/diffusion_pytorch_model.safetensors",
        "scheduler/scheduler_config.json"}) {
    EXPECT_TRUE(std::filesystem::exists(folder / file)) << file;
  }
  const auto written = std::filesystem::last_write_time(folder / "model_index.json");
  EXPECT_EQ(resolve_model("builtin:tiny-pixart", folder.parent_path()), folder);
  EXPECT_EQ(std::filesystem::last_write_time(folder / "model_index.json"), written);
  EXPECT_THROW(resolve_model("builtin:no-such-model", folder.parent_path()), UsageError);
}

TEST(BuiltinModel, WeightsAreDeterministic) {
  const auto other = std::filesystem::path(::testing::TempDir()) / "xdit-pipeline-test-2";
  std::filesystem::remove_all(other);
  const auto folder = resolve_model("builtin:tiny-pixart", other);
  for (const char* file : {"transformer/diffusion_pytorch_model.safetensors",
                           "text_encoder/model.safetensors", "tokenizer/spiece.model"}) {
    std::ifstream a(folder / file, std::ios::binary);
    std::ifstream b(tiny_model_folder() / file, std::ios::binary);
    const std::string bytes_a((std::istreambuf_iterator<char>(a)), {});
    const std::string bytes_b((std::istreambuf_iterator<char>(b)), {});
    // Not EXPECT_EQ: gtest would diff megabytes of bytes.
    EXPECT_TRUE(bytes_a == bytes_b) << file;
  }
}

TEST(DitPipeline, SameSeedSameImageOtherSeedOtherImage) {
  const auto first = tiny_pipeline().generate(small_request());
  ASSERT_EQ(first.images.sizes(), (std::vector<int64_t>{1, 64, 96, 3}));
  EXPECT_EQ(first.images.scalar_type(), at::kByte);
  EXPECT_EQ(first.latents.sizes(), (std::vector<int64_t>{1, 4, 8, 12}));
  EXPECT_EQ(first.step_seconds.size(), 3u);
  const auto again = tiny_pipeline().generate(small_request());
  EXPECT_TRUE(again.images.equal(first.images));
  auto request = small_request();
  request.seed = 6;
  EXPECT_FALSE(tiny_pipeline().generate(request).images.equal(first.images));
}

TEST(DitPipeline, InitialNoiseIsTorchRandnOfTheSeed) {
  auto scheduler = tiny_pipeline().make_scheduler();
  const at::Tensor latents = tiny_pipeline().prepare_latents(1, 64, 64, 42, *scheduler);
  // torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(42))[0, 0, 0, :3]
  const at::Tensor expected = at::tensor({1.9269153f, 1.4872841f, 0.9007172f});
  // The same draws: the literals' 8 digits (half an ulp), the Box-Muller
  // transform's log, root and cosine (an ulp each, where vectorised paths
  // round differently) and the initial sigma's product: 8 roundings.
  EXPECT_LE(xdit::testing::bound_ratio(latents[0][0][0].narrow(0, 0, 3), expected,
                                       xdit::testing::gamma(8) * expected.abs()),
            1.0);
}

TEST(DitPipeline, GuidanceAndPromptChangeTheResult) {
  const auto base = tiny_pipeline().generate(small_request());
  auto unguided = small_request();
  unguided.guidance_scale = 1.0;
  EXPECT_FALSE(tiny_pipeline().generate(unguided).latents.equal(base.latents));
  auto other_prompt = small_request();
  other_prompt.prompts = {"a blue ocean"};
  EXPECT_FALSE(tiny_pipeline().generate(other_prompt).latents.equal(base.latents));
}

TEST(DitPipeline, BatchesPromptsAndImages) {
  auto request = small_request();
  request.prompts = {"one", "two"};
  request.images_per_prompt = 2;
  request.decode = false;
  const auto result = tiny_pipeline().generate(request);
  EXPECT_EQ(result.latents.size(0), 4);
  EXPECT_FALSE(result.images.defined());
}

TEST(DitPipeline, BinsToTheNearestBucketAndCropsBack) {
  auto request = small_request();
  request.use_resolution_binning = true;
  request.height = 300;
  request.width = 500;
  request.num_inference_steps = 1;
  const auto result = tiny_pipeline().generate(request);
  EXPECT_EQ(result.generated_height, 384);  // 512 px table, ratio 0.6
  EXPECT_EQ(result.generated_width, 640);
  EXPECT_EQ(result.images.sizes(), (std::vector<int64_t>{1, 300, 500, 3}));
}

TEST(DitPipeline, RefusesBadRequestsNamingTheSetting) {
  auto request = small_request();
  request.height = 100;
  try {
    tiny_pipeline().generate(request);
    FAIL() << "expected a UsageError";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("height 100"), std::string::npos) << e.what();
  }
  request = small_request();
  request.num_inference_steps = 0;
  EXPECT_THROW(tiny_pipeline().generate(request), UsageError);
  request = small_request();
  request.prompts.clear();
  EXPECT_THROW(tiny_pipeline().generate(request), UsageError);
}

TEST(DitPipeline, BrokenFoldersNameWhatIsWrong) {
  const auto broken = std::filesystem::path(::testing::TempDir()) / "xdit-broken-pixart";
  std::filesystem::remove_all(broken);
  std::filesystem::copy(tiny_model_folder(), broken, std::filesystem::copy_options::recursive);
  std::filesystem::remove(broken / "vae" / "config.json");
  try {
    DitPipeline::load(io::ModelFolder(broken));
    FAIL() << "expected a FileError";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("vae"), std::string::npos) << e.what();
  }
  // A config that no longer fits the checkpoint: one layer fewer.
  std::filesystem::copy(tiny_model_folder() / "vae" / "config.json",
                        broken / "vae" / "config.json");
  auto config = io::read_json_file(broken / "transformer" / "config.json");
  config["num_layers"] = config["num_layers"].get<int>() - 1;
  std::ofstream(broken / "transformer" / "config.json") << config.dump();
  try {
    DitPipeline::load(io::ModelFolder(broken));
    FAIL() << "expected a WeightError";
  } catch (const WeightError& e) {
    EXPECT_NE(std::string(e.what()).find("transformer_blocks.5"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace xdit::pipelines
