#include "io/model_folder.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "core/error.hpp"
#include "io/safetensors_file.hpp"
#include "temp_folder.hpp"

namespace xdit::io {
namespace {

using xdit::testing::contains;
using xdit::testing::error_message;
using xdit::testing::read_bytes;
using xdit::testing::TempFolder;
using xdit::testing::write_bytes;

// A PixArt-style folder as diffusers saves it, written by hand.
constexpr const char* kModelIndex = R"({
  "_class_name": "PixArtAlphaPipeline",
  "_diffusers_version": "0.30.3",
  "_name_or_path": "PixArt-alpha/PixArt-XL-2-1024-MS",
  "requires_safety_checker": false,
  "scheduler": ["diffusers", "DPMSolverMultistepScheduler"],
  "text_encoder": ["transformers", "T5EncoderModel"],
  "tokenizer": ["transformers", "T5Tokenizer"],
  "transformer": ["diffusers", "PixArtTransformer2DModel"],
  "vae": ["diffusers", "AutoencoderKL"],
  "safety_checker": [null, null],
  "feature_extractor": null
})";

class ModelFolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    write_bytes(folder_ / "model_index.json", kModelIndex);
    write_bytes(folder_ / "transformer/config.json", R"({"num_layers": 28})");
    write_bytes(folder_ / "vae/config.json", R"({"latent_channels": 4})");
    write_bytes(folder_ / "text_encoder/config.json", R"({"d_model": 4096})");
    write_bytes(folder_ / "scheduler/scheduler_config.json",
                R"({"num_train_timesteps": 1000, "sigma_max": Infinity})");
    write_bytes(folder_ / "tokenizer/tokenizer_config.json", R"({"model_max_length": 120})");
    write_bytes(folder_ / "tokenizer/spiece.model", "not really sentencepiece");
  }

  std::filesystem::path dir(const std::string& name) const { return folder_ / name; }
  void put_weights(const std::string& component, const std::string& file, float value) const {
    write_safetensors(dir(component) / file, {{"w", at::full({2}, value)}});
  }
  static float first_value(const std::shared_ptr<SafetensorsWeights>& weights) {
    return weights->load("w").to(at::kFloat)[0].item<float>();
  }

  TempFolder folder_;
};

TEST_F(ModelFolderTest, ReadsModelIndex) {
  const ModelFolder folder(folder_.path());
  EXPECT_EQ(folder.class_name(), "PixArtAlphaPipeline");
  EXPECT_EQ(folder.diffusers_version(), "0.30.3");
  EXPECT_FALSE(folder.model_index().get<bool>("requires_safety_checker"));
  std::vector<std::string> names;
  for (const auto& c : folder.components())
    names.push_back(c.name);
  EXPECT_EQ(names, (std::vector<std::string>{"feature_extractor", "safety_checker", "scheduler",
                                             "text_encoder", "tokenizer", "transformer", "vae"}));
  EXPECT_TRUE(folder.has("transformer"));
  EXPECT_FALSE(folder.has("safety_checker"));
  EXPECT_FALSE(folder.has("feature_extractor"));
  EXPECT_FALSE(folder.has("unet"));
  EXPECT_EQ(folder.component("text_encoder").library, "transformers");
  EXPECT_EQ(folder.component("text_encoder").class_name, "T5EncoderModel");
  EXPECT_EQ(folder.component("scheduler").kind(), ComponentKind::kScheduler);
  EXPECT_EQ(folder.component("tokenizer").kind(), ComponentKind::kTokenizer);
  EXPECT_EQ(folder.component("vae").kind(), ComponentKind::kModel);
  EXPECT_EQ(folder.directory("vae"), dir("vae"));
}

TEST_F(ModelFolderTest, NullOrUnlistedComponentIsAConfigError) {
  const ModelFolder folder(folder_.path());
  const std::string null_message =
      error_message<ConfigError>([&] { folder.component("safety_checker"); });
  EXPECT_TRUE(contains(null_message, "safety_checker") && contains(null_message, "null"))
      << null_message;
  const std::string unlisted = error_message<ConfigError>([&] { folder.config("unet"); });
  EXPECT_TRUE(contains(unlisted, "model_index.json") && contains(unlisted, "'unet'")) << unlisted;
}

TEST_F(ModelFolderTest, ReadsEachKindOfConfig) {
  const ModelFolder folder(folder_.path());
  EXPECT_EQ(folder.config("transformer").get<int64_t>("num_layers"), 28);
  EXPECT_EQ(folder.config("text_encoder").get<int64_t>("d_model"), 4096);
  const Config scheduler = folder.config("scheduler");
  EXPECT_EQ(scheduler.source(), dir("scheduler/scheduler_config.json").string());
  EXPECT_TRUE(std::isinf(scheduler.get<double>("sigma_max")));
  EXPECT_EQ(folder.config("tokenizer").get<int64_t>("model_max_length"), 120);
  EXPECT_EQ(folder.file("tokenizer", "spiece.model"), dir("tokenizer/spiece.model"));
  EXPECT_FALSE(folder.find_file("tokenizer", "tokenizer.json").has_value());
}

TEST_F(ModelFolderTest, MissingPiecesAreFileErrorsNamingThePath) {
  const ModelFolder folder(folder_.path());
  std::filesystem::remove_all(dir("vae"));
  std::filesystem::remove(dir("transformer/config.json"));
  const auto folder_message = error_message<FileError>([&] { folder.config("vae"); });
  EXPECT_TRUE(contains(folder_message, dir("vae").string())) << folder_message;
  const auto config_message = error_message<FileError>([&] { folder.config("transformer"); });
  EXPECT_TRUE(contains(config_message, dir("transformer/config.json").string())) << config_message;
  const auto file_message = error_message<FileError>([&] { folder.file("tokenizer", "x.json"); });
  EXPECT_TRUE(contains(file_message, dir("tokenizer/x.json").string())) << file_message;
  const auto weights_message = error_message<FileError>([&] { folder.weights("transformer"); });
  EXPECT_TRUE(contains(weights_message, dir("transformer").string())) << weights_message;
  EXPECT_TRUE(contains(weights_message, "diffusion_pytorch_model.safetensors")) << weights_message;
}

TEST_F(ModelFolderTest, MissingFolderOrModelIndexIsAFileErrorNamingIt) {
  const auto absent = folder_ / "absent";
  EXPECT_TRUE(contains(error_message<FileError>([&] { ModelFolder f(absent); }), absent.string()));
  const auto file = folder_ / "transformer/config.json";
  EXPECT_TRUE(contains(error_message<FileError>([&] { ModelFolder f(file); }), "not a folder"));
  const auto no_index = folder_ / "transformer";
  const std::string message = error_message<FileError>([&] { ModelFolder f(no_index); });
  EXPECT_TRUE(contains(message, (no_index / "model_index.json").string())) << message;
}

TEST_F(ModelFolderTest, MalformedModelIndexIsRefused) {
  const auto index = folder_ / "model_index.json";
  write_bytes(index, "{\"_class_name\": ");
  EXPECT_TRUE(
      contains(error_message<FileError>([&] { ModelFolder f(folder_.path()); }), index.string()));
  for (const char* text : {R"({"_diffusers_version": "0.30.3"})", R"({"_class_name": 3})",
                           R"({"_class_name": "P", "vae": ["diffusers"]})",
                           R"({"_class_name": "P", "vae": ["diffusers", null]})",
                           R"({"_class_name": "P", "vae": [1, 2]})",
                           R"({"_class_name": "P", "..": ["diffusers", "AutoencoderKL"]})"}) {
    write_bytes(index, text);
    const std::string message = error_message<ConfigError>([&] { ModelFolder f(folder_.path()); });
    EXPECT_TRUE(contains(message, index.string())) << text << ": " << message;
  }
}

TEST_F(ModelFolderTest, FindsSingleFileWeightsOfEachLibrary) {
  put_weights("transformer", "diffusion_pytorch_model.safetensors", 1);
  put_weights("text_encoder", "model.safetensors", 2);
  const ModelFolder folder(folder_.path());
  const WeightsFile chosen = folder.weights_file("transformer");
  EXPECT_EQ(chosen.path, dir("transformer/diffusion_pytorch_model.safetensors"));
  EXPECT_FALSE(chosen.sharded);
  EXPECT_EQ(chosen.variant, "");
  EXPECT_EQ(first_value(folder.weights("transformer")), 1);
  EXPECT_EQ(first_value(folder.weights("text_encoder")), 2);
}

TEST_F(ModelFolderTest, FindsShardedWeights) {
  write_sharded_safetensors(dir("text_encoder/model.safetensors.index.json"), "model",
                            {{"w", at::full({2}, 3.0f)}, {"v", at::ones({8})}}, 8);
  const ModelFolder folder(folder_.path());
  const WeightsFile chosen = folder.weights_file("text_encoder");
  EXPECT_TRUE(chosen.sharded);
  EXPECT_EQ(first_value(folder.weights("text_encoder")), 3);
  EXPECT_EQ(folder.weights("text_encoder")->keys().size(), 2u);
}

TEST_F(ModelFolderTest, EachLibraryPrefersItsOwnOrderOfIndexAndSingleFile) {
  for (const std::string component : {"transformer", "text_encoder"}) {
    const std::string stem =
        component == "transformer" ? "diffusion_pytorch_model" : std::string("model");
    put_weights(component, stem + ".safetensors", 1);
    write_sharded_safetensors(dir(component) / (stem + ".safetensors.index.json"), stem,
                              {{"w", at::full({2}, 2.0f)}}, 8);
  }
  const ModelFolder folder(folder_.path());
  EXPECT_TRUE(folder.weights_file("transformer").sharded);    // diffusers: index first
  EXPECT_FALSE(folder.weights_file("text_encoder").sharded);  // transformers: file first
}

TEST_F(ModelFolderTest, VariantIsChosenWhereItExists) {
  put_weights("transformer", "diffusion_pytorch_model.safetensors", 1);
  write_safetensors(dir("transformer/diffusion_pytorch_model.fp16.safetensors"),
                    {{"w", at::full({2}, 16.0f).to(at::kHalf)}});
  put_weights("vae", "diffusion_pytorch_model.safetensors", 4);
  put_weights("text_encoder", "model.safetensors", 5);
  write_sharded_safetensors(dir("text_encoder/model.safetensors.index.fp16.json"), "model.fp16",
                            {{"w", at::full({2}, 6.0f).to(at::kHalf)}, {"v", at::ones({8})}}, 8);

  const ModelFolder plain(folder_.path());
  EXPECT_EQ(first_value(plain.weights("transformer")), 1);
  EXPECT_EQ(first_value(plain.weights("text_encoder")), 5);

  const ModelFolder fp16(folder_.path(), "fp16");
  const WeightsFile transformer = fp16.weights_file("transformer");
  EXPECT_EQ(transformer.path, dir("transformer/diffusion_pytorch_model.fp16.safetensors"));
  EXPECT_EQ(transformer.variant, "fp16");
  EXPECT_EQ(fp16.weights("transformer")->load("w").scalar_type(), at::kHalf);
  const WeightsFile text_encoder = fp16.weights_file("text_encoder");
  EXPECT_TRUE(text_encoder.sharded);
  EXPECT_EQ(text_encoder.path, dir("text_encoder/model.safetensors.index.fp16.json"));
  EXPECT_EQ(first_value(fp16.weights("text_encoder")), 6);
  // A component without fp16 files falls back to its default weights.
  EXPECT_EQ(fp16.weights_file("vae").variant, "");
  EXPECT_EQ(first_value(fp16.weights("vae")), 4);
}

TEST_F(ModelFolderTest, AcceptsTheVariantBeforeSafetensorsIndexForm) {
  write_sharded_safetensors(dir("transformer/diffusion_pytorch_model.fp16.safetensors.index.json"),
                            "diffusion_pytorch_model.fp16",
                            {{"w", at::full({2}, 7.0f)}, {"v", at::ones({8})}}, 8);
  const ModelFolder folder(folder_.path(), "fp16");
  EXPECT_TRUE(folder.weights_file("transformer").sharded);
  EXPECT_EQ(first_value(folder.weights("transformer")), 7);
}

TEST_F(ModelFolderTest, PickleOnlyCheckpointAsksForConversion) {
  write_bytes(dir("transformer/diffusion_pytorch_model.bin"), "PK\x03\x04 pickle");
  write_bytes(dir("text_encoder/pytorch_model.fp16.bin"), "PK\x03\x04 pickle");
  const ModelFolder folder(folder_.path());
  const std::string message = error_message<FileError>([&] { folder.weights("transformer"); });
  EXPECT_TRUE(contains(message, dir("transformer/diffusion_pytorch_model.bin").string()))
      << message;
  EXPECT_TRUE(contains(message, "pickle") && contains(message, "safetensors")) << message;
  EXPECT_TRUE(contains(message, "save_pretrained")) << message;
  const ModelFolder fp16(folder_.path(), "fp16");
  const std::string variant_message =
      error_message<FileError>([&] { fp16.weights("text_encoder"); });
  EXPECT_TRUE(contains(variant_message, "pytorch_model.fp16.bin")) << variant_message;
  EXPECT_TRUE(contains(variant_message, "variant='fp16'")) << variant_message;
}

// ----------------------------------------------------------------------- writer

TEST(ModelFolderWriter, WritesAFolderThatModelFolderLoads) {
  TempFolder temp;
  const auto root = temp / "pipeline";
  ModelFolderWriter writer(root, "PixArtAlphaPipeline");
  writer.add_component("transformer", "diffusers", "PixArtTransformer2DModel");
  writer.add_component("text_encoder", "transformers", "T5EncoderModel");
  writer.add_component("tokenizer", "transformers", "T5Tokenizer");
  writer.add_component("scheduler", "diffusers", "DPMSolverMultistepScheduler");
  writer.add_null_component("safety_checker");
  writer.set_option("requires_safety_checker", false);
  writer.write_config("transformer", {{"num_layers", 2}, {"sample_size", 8}});
  writer.write_config("text_encoder", {{"d_model", 16}});
  writer.write_config("tokenizer", {{"model_max_length", 120}});
  writer.write_config("scheduler", {{"sigma_max", std::numeric_limits<double>::infinity()},
                                    {"sigma_min", std::nan("")}});
  writer.write_file("tokenizer", "spiece.model", "vocabulary bytes");
  const NamedTensors transformer = {{"a", at::arange(16, at::kFloat)},
                                    {"b", at::arange(16, at::kFloat)}};
  writer.write_weights("transformer", transformer);
  writer.write_weights("transformer",
                       {{"a", at::zeros({16}, at::kHalf)}, {"b", at::zeros({16}, at::kHalf)}},
                       "fp16", /*max_shard_bytes=*/32);
  writer.write_weights("text_encoder", {{"e", at::ones({4})}});
  EXPECT_EQ(writer.finish(), root);

  const ModelFolder folder(root);
  EXPECT_EQ(folder.class_name(), "PixArtAlphaPipeline");
  EXPECT_EQ(folder.diffusers_version(), std::string(kDiffusersVersion));
  EXPECT_FALSE(folder.has("safety_checker"));
  EXPECT_EQ(folder.components().size(), 5u);
  EXPECT_FALSE(folder.model_index().get<bool>("requires_safety_checker"));
  const Config config = folder.config("transformer");
  EXPECT_EQ(config.get<std::string>("_class_name"), "PixArtTransformer2DModel");
  EXPECT_EQ(config.get<int64_t>("num_layers"), 2);
  EXPECT_FALSE(folder.config("text_encoder").has("_class_name"));
  const Config scheduler = folder.config("scheduler");
  EXPECT_TRUE(std::isinf(scheduler.get<double>("sigma_max")));
  EXPECT_TRUE(std::isnan(scheduler.get<double>("sigma_min")));
  EXPECT_EQ(read_bytes(folder.file("tokenizer", "spiece.model")), "vocabulary bytes");
  const auto weights = folder.weights("transformer");
  for (const auto& [name, tensor] : transformer)
    EXPECT_TRUE(at::equal(weights->load(name), tensor));
  EXPECT_EQ(folder.weights("text_encoder")->keys(), (std::vector<std::string>{"e"}));

  const ModelFolder fp16(root, "fp16");
  const WeightsFile chosen = fp16.weights_file("transformer");
  EXPECT_TRUE(chosen.sharded);
  EXPECT_EQ(chosen.path.filename(), "diffusion_pytorch_model.safetensors.index.fp16.json");
  EXPECT_TRUE(std::filesystem::exists(
      root / "transformer/diffusion_pytorch_model.fp16-00002-of-00002.safetensors"));
  EXPECT_EQ(fp16.weights("transformer")->load("b").scalar_type(), at::kHalf);
}

TEST(ModelFolderWriter, RefusesWhatWouldNotLoad) {
  TempFolder temp;
  ModelFolderWriter writer(temp.path(), "P");
  writer.add_component("vae", "diffusers", "AutoencoderKL");
  EXPECT_THROW(writer.add_component("vae", "diffusers", "AutoencoderKL"), UsageError);
  EXPECT_THROW(writer.add_component("../x", "diffusers", "AutoencoderKL"), UsageError);
  EXPECT_THROW(writer.add_component("_private", "diffusers", "AutoencoderKL"), UsageError);
  EXPECT_THROW(writer.add_component("unet", "diffusers", ""), UsageError);
  EXPECT_THROW(writer.write_config("unet", nlohmann::ordered_json::object()), UsageError);
  EXPECT_THROW(writer.write_config("vae", nlohmann::ordered_json::array()), UsageError);
  EXPECT_THROW(writer.write_file("vae", "../escape", "x"), UsageError);
  EXPECT_FALSE(std::filesystem::exists(temp / "model_index.json"));
}

}  // namespace
}  // namespace xdit::io
