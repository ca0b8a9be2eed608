#pragma once
// The pieces the built-in pipelines are assembled from: small configs of
// each component, tokenizer files, and checkpoints synthesized from the
// model code itself (so that a checkpoint holds exactly the tensors the
// model asks for, with deterministic random values).

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "io/config.hpp"
#include "io/model_folder.hpp"
#include "io/synthetic_weights.hpp"
#include "pipelines/builtin_models.hpp"

namespace xdit::pipelines::builtin {

using Json = nlohmann::ordered_json;

inline constexpr uint64_t kSeed = 20240601;

io::Config as_config(const Json& json, const std::string& source);

// Builds the model on synthetic weights and returns the tensors it asked for.
template <typename Model, typename Config, typename... Extra>
io::NamedTensors synthesize(const Json& config, const std::string& name, Extra... extra) {
  return io::synthesize_model<Model>(Config::from_config(as_config(config, "builtin " + name)),
                                     kSeed, "builtin " + name, extra...);
}

// The transformer component of class config["_class_name"], its weights
// synthesized from `Model`.
template <typename Model, typename Config>
void write_transformer(io::ModelFolderWriter& writer, const Json& config) {
  writer.add_component("transformer", "diffusers", config["_class_name"].get<std::string>());
  writer.write_config("transformer", config);
  writer.write_weights("transformer", synthesize<Model, Config>(config, "transformer"));
}

// A PixArt-α-architecture transformer (no size conditions below
// sample_size 128) cross-attending at its own width; `learned_sigma`: it
// also predicts the variance (8 output channels), as PixArt's checkpoints do.
Json pixart_transformer_config(const BuiltinPixArtShape& shape, int64_t text_channels,
                               bool learned_sigma);

// PixArt's scheduler: DPMSolverMultistepScheduler with library defaults.
Json pixart_scheduler_config();

// The scheduler component of class config["_class_name"].
void write_scheduler(io::ModelFolderWriter& writer, const Json& config);

// A T5Tokenizer component around the SentencePiece model `spiece`.
void write_t5_tokenizer(io::ModelFolderWriter& writer, const std::string& component,
                        const std::string& spiece, int64_t max_length);

// A small T5EncoderModel's config.json: 2 layers, 4 heads, gated GELU.
Json t5_encoder_config(int64_t vocab_size, int64_t d_model);

// T5EncoderModel checkpoints hold the tied embedding under both names
// ("shared.weight" and "encoder.embed_tokens.weight"): adds the missing one.
io::NamedTensors with_tied_embeddings(io::NamedTensors tensors);

// A tiny SentencePiece T5 tokenizer as `tokenizer`, and a T5 encoder of
// width `d_model` as `encoder`.
void write_t5(io::ModelFolderWriter& writer, const std::string& tokenizer,
              const std::string& encoder, int64_t d_model, int64_t max_length);

// A tiny CLIP tokenizer as `tokenizer` (`pad`: its padding token, "!" for
// SD3's second CLIP), and a CLIP text encoder of width `hidden` as `encoder`
// (CLIPTextModelWithProjection projecting to `projection_dim` when
// `with_projection`).
void write_clip(io::ModelFolderWriter& writer, const std::string& tokenizer,
                const std::string& encoder, int64_t hidden, bool with_projection,
                int64_t projection_dim, const std::string& pad);

// A small AutoencoderKL (factor 8) with `latent_channels`; SD3's and Flux's
// have a shift_factor and no quant convolutions.
void write_vae(io::ModelFolderWriter& writer, int64_t latent_channels, double scaling_factor,
               std::optional<double> shift_factor);

}  // namespace xdit::pipelines::builtin
