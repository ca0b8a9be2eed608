// The SD3 and Flux pipelines around what diffusers parity already covers
// (pipeline_parity_test.cpp): the folder variants real checkpoints come in
// (SD3 without T5), each family's guidance defaults, and folders that do not
// fit, refused with the component or key named.

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "core/error.hpp"
#include "io/config.hpp"
#include "pipelines/builtin_models.hpp"
#include "pipelines/dit_pipeline.hpp"
#include "temp_folder.hpp"

namespace xdit::pipelines {
namespace {

std::filesystem::path builtin(const char* name) {
  return resolve_model(name, std::filesystem::path(::testing::TempDir()) / "xdit-mmdit-pipeline");
}

// A copy of a built-in folder whose model_index.json `edit` changes.
template <typename Edit>
std::filesystem::path edited_copy(const char* name, const xdit::testing::TempFolder& temp,
                                  Edit&& edit) {
  const auto folder = temp / "model";
  std::filesystem::copy(builtin(name), folder, std::filesystem::copy_options::recursive);
  nlohmann::ordered_json index =
      nlohmann::ordered_json::parse(io::read_json_file(folder / "model_index.json").dump());
  edit(index, folder);
  io::write_json_file(folder / "model_index.json", index);
  return folder;
}

GenerationRequest small_request() {
  GenerationRequest request;
  request.prompts = {"a red cat"};
  request.height = 64;
  request.width = 64;
  request.num_inference_steps = 2;
  request.seed = 3;
  request.decode = false;
  return request;
}

TEST(MMDiTPipeline, Sd3RunsWithoutT5AsDiffusersDoes) {
  xdit::testing::TempFolder temp;
  const auto folder = edited_copy("builtin:tiny-sd3", temp, [](auto& index, const auto&) {
    index["text_encoder_3"] = {nullptr, nullptr};
    index["tokenizer_3"] = {nullptr, nullptr};
  });
  const DitPipeline pipeline = DitPipeline::load(io::ModelFolder(folder));
  // Both CLIPs' 77 tokens, then 77 zero rows where T5's would be.
  const models::DitInputs inputs = pipeline.encode_texts({"a red cat"}, 256);
  ASSERT_EQ(inputs.text.sizes(), (std::vector<int64_t>{1, 154, 96}));
  EXPECT_EQ(inputs.text.narrow(1, 77, 77).abs().max().item<float>(), 0.0f);
  EXPECT_GT(inputs.text.narrow(1, 0, 77).abs().max().item<float>(), 0.0f);
  EXPECT_EQ(pipeline.generate(small_request()).latents.sizes(),
            (std::vector<int64_t>{1, 16, 8, 8}));
}

TEST(MMDiTPipeline, EachFamilyHasItsGuidanceDefault) {
  const DitPipeline flux = DitPipeline::load(io::ModelFolder(builtin("builtin:tiny-flux")));
  EXPECT_TRUE(flux.facts().guidance_distilled);
  EXPECT_EQ(guidance_scale({}, flux.facts()), 3.5);
  const GenerationRequest unset = small_request();
  GenerationRequest explicit_default = unset;
  explicit_default.guidance_scale = 3.5;
  GenerationRequest other = unset;
  other.guidance_scale = 6.0;
  const at::Tensor latents = flux.generate(unset).latents;
  EXPECT_TRUE(latents.equal(flux.generate(explicit_default).latents));
  // The scale is an input of the model: another scale, another image.
  EXPECT_FALSE(latents.equal(flux.generate(other).latents));

  const DitPipeline sd3 = DitPipeline::load(io::ModelFolder(builtin("builtin:tiny-sd3")));
  EXPECT_EQ(guidance_scale({}, sd3.facts()), 7.0);
  EXPECT_EQ(default_max_sequence_length(PipelineKind::kFlux), 512);
  EXPECT_EQ(sd3.default_max_sequence_length(), 256);
  EXPECT_EQ(sd3.default_resolution(), 512);
}

TEST(MMDiTPipeline, FoldersThatDoNotFitAreRefusedNamingWhat) {
  const auto message = [](const std::filesystem::path& folder) {
    try {
      DitPipeline::load(io::ModelFolder(folder));
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("loaded");
  };
  {
    xdit::testing::TempFolder temp;
    const auto folder = edited_copy(
        "builtin:tiny-flux", temp, [](auto& index, const auto&) { index.erase("text_encoder_2"); });
    EXPECT_NE(message(folder).find("text_encoder_2"), std::string::npos) << message(folder);
  }
  {
    // Another model where the second CLIP belongs.
    xdit::testing::TempFolder temp;
    const auto folder = edited_copy("builtin:tiny-sd3", temp, [](auto& index, const auto&) {
      index["text_encoder_2"] = {"transformers", "T5EncoderModel"};
    });
    const std::string why = message(folder);
    EXPECT_NE(why.find("text_encoder_2"), std::string::npos) << why;
    EXPECT_NE(why.find("CLIPTextModelWithProjection"), std::string::npos) << why;
  }
  {
    // A schnell config on dev weights: the guidance embedder is left over.
    xdit::testing::TempFolder temp;
    const auto folder = edited_copy("builtin:tiny-flux", temp, [](auto&, const auto& root) {
      nlohmann::ordered_json config = nlohmann::ordered_json::parse(
          io::read_json_file(root / "transformer" / "config.json").dump());
      config["guidance_embeds"] = false;
      io::write_json_file(root / "transformer" / "config.json", config);
    });
    const std::string why = message(folder);
    EXPECT_NE(why.find("guidance_embedder"), std::string::npos) << why;
  }
  {
    xdit::testing::TempFolder temp;
    const auto folder = edited_copy("builtin:tiny-pixart", temp, [](auto& index, const auto&) {
      index["_class_name"] = "StableVideoDiffusionPipeline";
    });
    EXPECT_NE(message(folder).find("_class_name"), std::string::npos) << message(folder);
  }
}

}  // namespace
}  // namespace xdit::pipelines
