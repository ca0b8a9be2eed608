#include "pipelines/builtin_parts.hpp"

#include "models/autoencoder_kl.hpp"
#include "models/clip_text_model.hpp"
#include "models/clip_tokenizer.hpp"
#include "models/sentencepiece_model.hpp"
#include "models/t5_encoder.hpp"
#include "models/t5_tokenizer.hpp"

namespace xdit::pipelines::builtin {
namespace {

constexpr int kTinyVocabularyPieces = 400;

}  // namespace

io::NamedTensors with_tied_embeddings(io::NamedTensors tensors) {
  at::Tensor embedding;
  bool has_shared = false;
  bool has_embed_tokens = false;
  for (const auto& [key, tensor] : tensors) {
    has_shared |= key == "shared.weight";
    has_embed_tokens |= key == "encoder.embed_tokens.weight";
    if (key == "shared.weight" || key == "encoder.embed_tokens.weight")
      embedding = tensor;
  }
  if (!has_shared)
    tensors.emplace_back("shared.weight", embedding);
  if (!has_embed_tokens)
    tensors.emplace_back("encoder.embed_tokens.weight", embedding);
  return tensors;
}

io::Config as_config(const Json& json, const std::string& source) {
  return io::Config(nlohmann::json::parse(json.dump()), source);
}

Json pixart_transformer_config(const BuiltinPixArtShape& shape, int64_t text_channels,
                               bool learned_sigma) {
  return {{"_class_name", "PixArtTransformer2DModel"},
          {"num_attention_heads", shape.num_attention_heads},
          {"attention_head_dim", shape.attention_head_dim},
          {"in_channels", 4},
          {"out_channels", learned_sigma ? 8 : 4},
          {"num_layers", shape.num_layers},
          {"dropout", 0.0},
          {"norm_num_groups", 32},
          {"cross_attention_dim", shape.num_attention_heads * shape.attention_head_dim},
          {"attention_bias", true},
          {"sample_size", shape.sample_size},
          {"patch_size", 2},
          {"activation_fn", "gelu-approximate"},
          {"num_embeds_ada_norm", 1000},
          {"upcast_attention", false},
          {"norm_type", "ada_norm_single"},
          {"norm_elementwise_affine", false},
          {"norm_eps", 1e-6},
          {"interpolation_scale", nullptr},
          {"use_additional_conditions", nullptr},
          {"caption_channels", text_channels},
          {"attention_type", "default"}};
}

Json pixart_scheduler_config() {
  return {{"_class_name", "DPMSolverMultistepScheduler"},
          {"num_train_timesteps", 1000},
          {"beta_start", 0.0001},
          {"beta_end", 0.02},
          {"beta_schedule", "linear"},
          {"solver_order", 2},
          {"prediction_type", "epsilon"},
          {"algorithm_type", "dpmsolver++"},
          {"solver_type", "midpoint"},
          {"lower_order_final", true},
          {"final_sigmas_type", "zero"},
          {"timestep_spacing", "linspace"},
          {"steps_offset", 0}};
}

void write_scheduler(io::ModelFolderWriter& writer, const Json& config) {
  writer.add_component("scheduler", "diffusers", config["_class_name"].get<std::string>());
  writer.write_config("scheduler", config);
}

void write_t5_tokenizer(io::ModelFolderWriter& writer, const std::string& component,
                        const std::string& spiece, int64_t max_length) {
  const auto t5_tokenizer = models::T5Tokenizer::from_serialized(spiece);
  writer.add_component(component, "transformers", "T5Tokenizer");
  writer.write_config(component, {{"tokenizer_class", "T5Tokenizer"},
                                  {"extra_ids", t5_tokenizer.options().extra_ids},
                                  {"eos_token", "</s>"},
                                  {"pad_token", "<pad>"},
                                  {"unk_token", "<unk>"},
                                  {"model_max_length", max_length}});
  writer.write_file(component, "spiece.model", spiece);
}

Json t5_encoder_config(int64_t vocab_size, int64_t d_model) {
  return {{"architectures", {"T5EncoderModel"}},
          {"model_type", "t5"},
          {"vocab_size", vocab_size},
          {"d_model", d_model},
          {"d_kv", d_model / 4},
          {"d_ff", 2 * d_model},
          {"num_layers", 2},
          {"num_heads", 4},
          {"relative_attention_num_buckets", 32},
          {"relative_attention_max_distance", 128},
          {"layer_norm_epsilon", 1e-6},
          {"feed_forward_proj", "gated-gelu"},
          {"dense_act_fn", "gelu_new"},
          {"is_gated_act", true},
          {"pad_token_id", 0},
          {"eos_token_id", 1},
          {"tie_word_embeddings", false},
          {"torch_dtype", "float32"}};
}

void write_t5(io::ModelFolderWriter& writer, const std::string& tokenizer,
              const std::string& encoder, int64_t d_model, int64_t max_length) {
  const std::string spiece = models::make_tiny_sentencepiece_model(kTinyVocabularyPieces);
  write_t5_tokenizer(writer, tokenizer, spiece, max_length);
  const Json config =
      t5_encoder_config(models::T5Tokenizer::from_serialized(spiece).vocab_size(), d_model);
  writer.add_component(encoder, "transformers", "T5EncoderModel");
  writer.write_config(encoder, config);
  writer.write_weights(
      encoder,
      with_tied_embeddings(synthesize<models::T5Encoder, models::T5Config>(config, encoder)));
}

void write_clip(io::ModelFolderWriter& writer, const std::string& tokenizer,
                const std::string& encoder, int64_t hidden, bool with_projection,
                int64_t projection_dim, const std::string& pad) {
  const models::ClipVocabularyFiles vocabulary = models::make_tiny_clip_vocabulary();
  writer.add_component(tokenizer, "transformers", "CLIPTokenizer");
  writer.write_config(tokenizer, {{"tokenizer_class", "CLIPTokenizer"},
                                  {"bos_token", "<|startoftext|>"},
                                  {"eos_token", "<|endoftext|>"},
                                  {"unk_token", "<|endoftext|>"},
                                  {"pad_token", pad},
                                  {"model_max_length", 77}});
  writer.write_file(tokenizer, "vocab.json", vocabulary.vocab_json);
  writer.write_file(tokenizer, "merges.txt", vocabulary.merges_txt);

  const char* class_name = with_projection ? "CLIPTextModelWithProjection" : "CLIPTextModel";
  const Json config = {{"architectures", {class_name}},
                       {"model_type", "clip_text_model"},
                       {"vocab_size", vocabulary.vocab_size},
                       {"hidden_size", hidden},
                       {"intermediate_size", 4 * hidden},
                       {"projection_dim", projection_dim},
                       {"num_hidden_layers", 2},
                       {"num_attention_heads", 4},
                       {"max_position_embeddings", 77},
                       {"hidden_act", "gelu"},
                       {"layer_norm_eps", 1e-5},
                       {"bos_token_id", vocabulary.eos_id - 1},
                       {"eos_token_id", vocabulary.eos_id},
                       {"pad_token_id", 1},
                       {"torch_dtype", "float32"}};
  writer.add_component(encoder, "transformers", class_name);
  writer.write_config(encoder, config);
  writer.write_weights(encoder, synthesize<models::ClipTextModel, models::ClipTextConfig>(
                                    config, encoder, with_projection));
}

void write_vae(io::ModelFolderWriter& writer, int64_t latent_channels, double scaling_factor,
               std::optional<double> shift_factor) {
  Json config = {{"_class_name", "AutoencoderKL"},
                 {"in_channels", 3},
                 {"out_channels", 3},
                 {"down_block_types", std::vector<std::string>(4, "DownEncoderBlock2D")},
                 {"up_block_types", std::vector<std::string>(4, "UpDecoderBlock2D")},
                 {"block_out_channels", {32, 32, 64, 64}},
                 {"layers_per_block", 1},
                 {"act_fn", "silu"},
                 {"latent_channels", latent_channels},
                 {"norm_num_groups", 8},
                 {"sample_size", 512},
                 {"scaling_factor", scaling_factor},
                 {"force_upcast", true}};
  if (shift_factor) {
    config["shift_factor"] = *shift_factor;
    config["use_quant_conv"] = false;
    config["use_post_quant_conv"] = false;
  }
  writer.add_component("vae", "diffusers", "AutoencoderKL");
  writer.write_config("vae", config);
  writer.write_weights("vae", synthesize<models::AutoencoderKL, models::AutoencoderKLConfig>(
                                  config, "vae", models::AutoencoderKL::Parts::kEncoderAndDecoder));
}

}  // namespace xdit::pipelines::builtin
