#include "models/sd3_transformer.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <string>

#include "core/error.hpp"

namespace xdit::models {

using io::require_positive;

namespace {

constexpr int64_t kSinusoidChannels = 256;

}  // namespace

SD3Config SD3Config::from_config(const io::Config& config) {
  SD3Config c;
  c.sample_size = config.get_or<int64_t>("sample_size", c.sample_size);
  c.patch_size = config.get_or<int64_t>("patch_size", c.patch_size);
  c.in_channels = config.get_or<int64_t>("in_channels", c.in_channels);
  c.num_layers = config.get_or<int64_t>("num_layers", c.num_layers);
  c.attention_head_dim = config.get_or<int64_t>("attention_head_dim", c.attention_head_dim);
  c.num_attention_heads = config.get_or<int64_t>("num_attention_heads", c.num_attention_heads);
  c.joint_attention_dim = config.get_or<int64_t>("joint_attention_dim", c.joint_attention_dim);
  c.caption_projection_dim =
      config.get_or<int64_t>("caption_projection_dim", c.caption_projection_dim);
  c.pooled_projection_dim =
      config.get_or<int64_t>("pooled_projection_dim", c.pooled_projection_dim);
  c.out_channels = config.get_or<int64_t>("out_channels", c.out_channels);
  c.pos_embed_max_size = config.get_or<int64_t>("pos_embed_max_size", c.pos_embed_max_size);
  // SD3.5's additions change the math; refused by name rather than ignored.
  const nlohmann::json& raw = config.json();
  if (raw.contains("qk_norm") && !raw["qk_norm"].is_null()) {
    config.fail("qk_norm", "SD3.5's normalised queries and keys are not supported yet");
  }
  if (raw.contains("dual_attention_layers") && !raw["dual_attention_layers"].empty()) {
    config.fail("dual_attention_layers", "SD3.5's dual attention is not supported yet");
  }
  c.validate(config.source());
  return c;
}

void SD3Config::validate(const std::string& source) const {
  require_positive(sample_size, "sample_size", source);
  require_positive(patch_size, "patch_size", source);
  require_positive(in_channels, "in_channels", source);
  require_positive(num_layers, "num_layers", source);
  require_positive(attention_head_dim, "attention_head_dim", source);
  require_positive(num_attention_heads, "num_attention_heads", source);
  require_positive(joint_attention_dim, "joint_attention_dim", source);
  require_positive(pooled_projection_dim, "pooled_projection_dim", source);
  require_positive(out_channels, "out_channels", source);
  require_positive(pos_embed_max_size, "pos_embed_max_size", source);
  // The text tokens join the image tokens' attention at the same width.
  if (caption_projection_dim != inner_dim()) {
    throw ConfigError(source, "caption_projection_dim",
                      std::to_string(caption_projection_dim) +
                          " must equal num_attention_heads * attention_head_dim (" +
                          std::to_string(inner_dim()) + ")");
  }
}

SD3Transformer::SD3Transformer(const SD3Config& config, const io::Weights& weights)
    : config_(config), dtype_(weights.dtype()), device_(weights.device()) {
  config_.validate("SD3Config");
  const int64_t dim = config_.inner_dim();
  pos_embed_ = PatchEmbed::load_cropped(weights.sub("pos_embed"), config_.in_channels, dim,
                                        config_.patch_size, config_.pos_embed_max_size);
  const io::Weights time_text = weights.sub("time_text_embed");
  timestep_embedder_ =
      TimestepEmbedding::load(time_text.sub("timestep_embedder"), kSinusoidChannels, dim);
  text_embedder_ =
      TimestepEmbedding::load(time_text.sub("text_embedder"), config_.pooled_projection_dim, dim);
  context_embedder_ =
      Linear::load(weights.sub("context_embedder"), config_.joint_attention_dim, dim);
  for (int64_t i = 0; i < config_.num_layers; ++i) {
    JointBlockShape shape;
    shape.dim = dim;
    shape.heads = config_.num_attention_heads;
    shape.head_dim = config_.attention_head_dim;
    shape.context_pre_only = i + 1 == config_.num_layers;
    blocks_.emplace_back(weights.sub("transformer_blocks." + std::to_string(i)), shape);
  }
  norm_out_ = Linear::load(weights.sub("norm_out.linear"), dim, 2 * dim);
  proj_out_ = Linear::load(weights.sub("proj_out"), dim,
                           config_.patch_size * config_.patch_size * config_.out_channels);
}

at::Tensor SD3Transformer::forward(const at::Tensor& hidden_states,
                                   const at::Tensor& encoder_hidden_states,
                                   const at::Tensor& pooled_projections,
                                   const at::Tensor& timestep) const {
  const int64_t p = config_.patch_size;
  if (hidden_states.dim() != 4 || hidden_states.size(1) != config_.in_channels ||
      hidden_states.size(2) % p != 0 || hidden_states.size(3) % p != 0) {
    throw UsageError("SD3Transformer: hidden_states must be [B, " +
                     std::to_string(config_.in_channels) + ", H, W] with H and W multiples of " +
                     std::to_string(p) + ", got " + c10::str(hidden_states.sizes()));
  }
  const int64_t batch = hidden_states.size(0);
  if (encoder_hidden_states.dim() != 3 || encoder_hidden_states.size(0) != batch ||
      encoder_hidden_states.size(2) != config_.joint_attention_dim ||
      pooled_projections.dim() != 2 || pooled_projections.size(0) != batch ||
      pooled_projections.size(1) != config_.pooled_projection_dim || timestep.numel() != batch) {
    throw UsageError("SD3Transformer: for " + std::to_string(batch) +
                     " latents, expected encoder_hidden_states [" + std::to_string(batch) +
                     ", L, " + std::to_string(config_.joint_attention_dim) +
                     "], pooled_projections [" + std::to_string(batch) + ", " +
                     std::to_string(config_.pooled_projection_dim) + "] and " +
                     std::to_string(batch) + " timesteps");
  }
  const PatchRows rows = PatchRows::whole(hidden_states.size(2) / p, hidden_states.size(3) / p);
  at::Tensor image = pos_embed_(hidden_states.to(device_, dtype_), rows);
  const at::Tensor sinusoids =
      timestep_sinusoids(timestep.to(device_).reshape({batch}), kSinusoidChannels,
                         /*flip_sin_to_cos=*/true, /*downscale_freq_shift=*/0);
  const at::Tensor conditioning = timestep_embedder_(sinusoids.to(dtype_)) +
                                  text_embedder_(pooled_projections.to(device_, dtype_));
  at::Tensor text = context_embedder_(encoder_hidden_states.to(device_, dtype_));
  for (const JointBlock& block : blocks_)
    block(image, text, conditioning, at::Tensor());
  const std::vector<at::Tensor> scale_shift = norm_out_(at::silu(conditioning)).chunk(2, 1);
  const at::Tensor out =
      modulate(plain_layer_norm(image), scale_shift[1].unsqueeze(1), scale_shift[0].unsqueeze(1));
  return unpatchify(proj_out_(out), rows, p, config_.out_channels);
}

}  // namespace xdit::models
