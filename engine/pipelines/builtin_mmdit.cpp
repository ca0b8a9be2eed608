// builtin:tiny-sd3 and builtin:tiny-flux (pipelines/builtin_models.hpp).

#include "models/flux_transformer.hpp"
#include "models/sd3_transformer.hpp"
#include "pipelines/builtin_models.hpp"
#include "pipelines/builtin_parts.hpp"

namespace xdit::pipelines {

using builtin::Json;

void write_tiny_sd3(const std::filesystem::path& folder) {
  // T5's width is the transformer's text width; the two CLIPs (32 + 48
  // channels) are padded to it.
  constexpr int64_t kTextWidth = 96;
  constexpr int64_t kClipProjection = 32;
  const Json transformer = {{"_class_name", "SD3Transformer2DModel"},
                            {"sample_size", 64},
                            {"patch_size", 2},
                            {"in_channels", 16},
                            {"num_layers", 4},
                            {"attention_head_dim", 24},
                            {"num_attention_heads", 4},
                            {"joint_attention_dim", kTextWidth},
                            {"caption_projection_dim", 96},
                            {"pooled_projection_dim", 2 * kClipProjection},
                            {"out_channels", 16},
                            {"pos_embed_max_size", 64},
                            {"qk_norm", "rms_norm"},
                            {"dual_attention_layers", {0, 1}}};
  io::ModelFolderWriter writer(folder, "StableDiffusion3Pipeline");
  builtin::write_clip(writer, "tokenizer", "text_encoder", 32, true, kClipProjection,
                      "<|endoftext|>");
  builtin::write_clip(writer, "tokenizer_2", "text_encoder_2", 48, true, kClipProjection, "!");
  builtin::write_t5(writer, "tokenizer_3", "text_encoder_3", kTextWidth, 256);
  builtin::write_transformer<models::SD3Transformer, models::SD3Config>(writer, transformer);
  builtin::write_vae(writer, 16, 1.5305, 0.0609);
  builtin::write_scheduler(writer, {{"_class_name", "FlowMatchEulerDiscreteScheduler"},
                                    {"num_train_timesteps", 1000},
                                    {"shift", 3.0}});
  writer.finish();
}

void write_tiny_flux(const std::filesystem::path& folder) {
  write_builtin_flux(folder, kTinyFluxShape);
}

void write_builtin_flux(const std::filesystem::path& folder, const BuiltinFluxShape& shape) {
  constexpr int64_t kTextWidth = 64;
  constexpr int64_t kClipWidth = 32;
  const int64_t position_axis = (shape.attention_head_dim - shape.rope_axis) / 2;
  const Json transformer = {{"_class_name", "FluxTransformer2DModel"},
                            {"patch_size", 1},
                            {"in_channels", 64},
                            {"num_layers", shape.num_layers},
                            {"num_single_layers", shape.num_single_layers},
                            {"attention_head_dim", shape.attention_head_dim},
                            {"num_attention_heads", shape.num_attention_heads},
                            {"joint_attention_dim", kTextWidth},
                            {"pooled_projection_dim", kClipWidth},
                            {"guidance_embeds", true},
                            {"axes_dims_rope", {shape.rope_axis, position_axis, position_axis}}};
  io::ModelFolderWriter writer(folder, "FluxPipeline");
  builtin::write_clip(writer, "tokenizer", "text_encoder", kClipWidth, false, kClipWidth,
                      "<|endoftext|>");
  builtin::write_t5(writer, "tokenizer_2", "text_encoder_2", kTextWidth, 512);
  builtin::write_transformer<models::FluxTransformer, models::FluxConfig>(writer, transformer);
  builtin::write_vae(writer, 16, 0.3611, 0.1159);
  builtin::write_scheduler(writer, {{"_class_name", "FlowMatchEulerDiscreteScheduler"},
                                    {"num_train_timesteps", 1000},
                                    {"shift", 3.0},
                                    {"use_dynamic_shifting", true},
                                    {"base_image_seq_len", 256},
                                    {"max_image_seq_len", 4096},
                                    {"base_shift", 0.5},
                                    {"max_shift", 1.15}});
  writer.finish();
}

}  // namespace xdit::pipelines
