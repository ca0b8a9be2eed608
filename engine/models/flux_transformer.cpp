#include "models/flux_transformer.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "core/error.hpp"
#include "models/attention.hpp"
#include "models/rope.hpp"

namespace xdit::models {

using io::require_positive;

namespace {

constexpr int64_t kSinusoidChannels = 256;
constexpr double kRopeTheta = 10000.0;

// The sinusoids of a [B] tensor scaled by 1000 in `dtype`, as the model
// scales timestep and guidance before embedding them.
at::Tensor scaled_sinusoids(const at::Tensor& values, at::ScalarType dtype, at::Device device) {
  const at::Tensor scaled = values.to(device, dtype).reshape({-1}) * 1000;
  return timestep_sinusoids(scaled, kSinusoidChannels, /*flip_sin_to_cos=*/true,
                            /*downscale_freq_shift=*/0)
      .to(dtype);
}

}  // namespace

FluxConfig FluxConfig::from_config(const io::Config& config) {
  FluxConfig c;
  c.patch_size = config.get_or<int64_t>("patch_size", c.patch_size);
  c.in_channels = config.get_or<int64_t>("in_channels", c.in_channels);
  c.num_layers = config.get_or<int64_t>("num_layers", c.num_layers);
  c.num_single_layers = config.get_or<int64_t>("num_single_layers", c.num_single_layers);
  c.attention_head_dim = config.get_or<int64_t>("attention_head_dim", c.attention_head_dim);
  c.num_attention_heads = config.get_or<int64_t>("num_attention_heads", c.num_attention_heads);
  c.joint_attention_dim = config.get_or<int64_t>("joint_attention_dim", c.joint_attention_dim);
  c.pooled_projection_dim =
      config.get_or<int64_t>("pooled_projection_dim", c.pooled_projection_dim);
  c.guidance_embeds = config.get_or<bool>("guidance_embeds", c.guidance_embeds);
  c.axes_dims_rope = config.get_or<std::vector<int64_t>>("axes_dims_rope", c.axes_dims_rope);
  c.validate(config.source());
  return c;
}

void FluxConfig::validate(const std::string& source) const {
  // The pipeline packs 2 x 2 latent patches into tokens; the model has none.
  if (patch_size != 1)
    throw ConfigError(source, "patch_size", "must be 1, got " + std::to_string(patch_size));
  require_positive(in_channels, "in_channels", source);
  require_positive(num_layers + num_single_layers, "num_layers", source);
  if (num_layers < 0 || num_single_layers < 0)
    throw ConfigError(source, "num_single_layers", "layer counts cannot be negative");
  require_positive(attention_head_dim, "attention_head_dim", source);
  require_positive(num_attention_heads, "num_attention_heads", source);
  require_positive(joint_attention_dim, "joint_attention_dim", source);
  require_positive(pooled_projection_dim, "pooled_projection_dim", source);
  const bool even = std::all_of(axes_dims_rope.begin(), axes_dims_rope.end(),
                                [](int64_t d) { return d > 0 && d % 2 == 0; });
  const int64_t sum = std::accumulate(axes_dims_rope.begin(), axes_dims_rope.end(), int64_t{0});
  if (axes_dims_rope.empty() || !even || sum != attention_head_dim) {
    throw ConfigError(source, "axes_dims_rope",
                      "must be positive even sizes adding up to attention_head_dim (" +
                          std::to_string(attention_head_dim) + ")");
  }
}

FluxTransformer::FluxTransformer(const FluxConfig& config, const io::Weights& weights)
    : config_(config), dtype_(weights.dtype()), device_(weights.device()) {
  config_.validate("FluxConfig");
  const int64_t dim = config_.inner_dim();
  const int64_t heads = config_.num_attention_heads;
  const int64_t head_dim = config_.attention_head_dim;
  const io::Weights time_text = weights.sub("time_text_embed");
  timestep_embedder_ =
      TimestepEmbedding::load(time_text.sub("timestep_embedder"), kSinusoidChannels, dim);
  if (config_.guidance_embeds) {
    guidance_embedder_ =
        TimestepEmbedding::load(time_text.sub("guidance_embedder"), kSinusoidChannels, dim);
  }
  text_embedder_ =
      TimestepEmbedding::load(time_text.sub("text_embedder"), config_.pooled_projection_dim, dim);
  context_embedder_ =
      Linear::load(weights.sub("context_embedder"), config_.joint_attention_dim, dim);
  x_embedder_ = Linear::load(weights.sub("x_embedder"), config_.in_channels, dim);
  JointBlockShape shape;
  shape.dim = dim;
  shape.heads = heads;
  shape.head_dim = head_dim;
  shape.text_first = true;
  shape.qk_norm = true;
  for (int64_t i = 0; i < config_.num_layers; ++i)
    double_blocks_.emplace_back(weights.sub("transformer_blocks." + std::to_string(i)), shape);
  for (int64_t i = 0; i < config_.num_single_layers; ++i) {
    const io::Weights w = weights.sub("single_transformer_blocks." + std::to_string(i));
    const io::Weights attn = w.sub("attn");
    SingleBlock block;
    block.modulation = Linear::load(w.sub("norm.linear"), dim, 3 * dim);
    block.q = Linear::load(attn.sub("to_q"), dim, dim);
    block.k = Linear::load(attn.sub("to_k"), dim, dim);
    block.v = Linear::load(attn.sub("to_v"), dim, dim);
    block.norm_q.weight = attn.get("norm_q.weight", {head_dim});
    block.norm_k.weight = attn.get("norm_k.weight", {head_dim});
    block.proj_mlp = Linear::load(w.sub("proj_mlp"), dim, 4 * dim);
    block.proj_out = Linear::load(w.sub("proj_out"), 5 * dim, dim);
    single_blocks_.push_back(std::move(block));
  }
  norm_out_ = Linear::load(weights.sub("norm_out.linear"), dim, 2 * dim);
  proj_out_ = Linear::load(weights.sub("proj_out"), dim, config_.in_channels);
}

at::Tensor FluxTransformer::run_single(const SingleBlock& block, const at::Tensor& x,
                                       const at::Tensor& conditioning,
                                       const at::Tensor& rope) const {
  const int64_t batch = x.size(0);
  const int64_t heads = config_.num_attention_heads;
  const int64_t head_dim = config_.attention_head_dim;
  const std::vector<at::Tensor> m = block.modulation(at::silu(conditioning)).chunk(3, 1);
  const at::Tensor normed = modulate(plain_layer_norm(x), m[0].unsqueeze(1), m[1].unsqueeze(1));
  const auto split = [&](const Linear& proj) {
    return proj(normed).view({batch, -1, heads, head_dim}).transpose(1, 2);
  };
  const at::Tensor q = apply_rope(block.norm_q(split(block.q)), rope);
  const at::Tensor k = apply_rope(block.norm_k(split(block.k)), rope);
  const at::Tensor attended =
      attention(q, k, split(block.v), at::Tensor(), 1.0 / std::sqrt(static_cast<double>(head_dim)))
          .transpose(1, 2)
          .reshape({batch, -1, heads * head_dim});
  const at::Tensor mlp = at::gelu(block.proj_mlp(normed), "tanh");
  return at::addcmul(x, m[2].unsqueeze(1), block.proj_out(at::cat({attended, mlp}, 2)));
}

at::Tensor FluxTransformer::forward(const at::Tensor& hidden_states,
                                    const at::Tensor& encoder_hidden_states,
                                    const at::Tensor& pooled_projections,
                                    const at::Tensor& timestep, const at::Tensor& img_ids,
                                    const at::Tensor& txt_ids, const at::Tensor& guidance) const {
  const int64_t batch = hidden_states.dim() == 3 ? hidden_states.size(0) : -1;
  if (batch < 1 || hidden_states.size(2) != config_.in_channels ||
      encoder_hidden_states.dim() != 3 || encoder_hidden_states.size(0) != batch ||
      encoder_hidden_states.size(2) != config_.joint_attention_dim ||
      pooled_projections.dim() != 2 || pooled_projections.size(0) != batch ||
      pooled_projections.size(1) != config_.pooled_projection_dim || timestep.numel() != batch) {
    throw UsageError("FluxTransformer: expected hidden_states [B, N, " +
                     std::to_string(config_.in_channels) + "], encoder_hidden_states [B, L, " +
                     std::to_string(config_.joint_attention_dim) + "], pooled_projections [B, " +
                     std::to_string(config_.pooled_projection_dim) + "] and B timesteps");
  }
  if (guidance.defined() != config_.guidance_embeds ||
      (guidance.defined() && guidance.numel() != batch)) {
    throw UsageError(config_.guidance_embeds
                         ? "FluxTransformer: this model is guidance-distilled (dev): it needs a "
                           "guidance scale per sample"
                         : "FluxTransformer: this model has no guidance embedder (schnell): "
                           "guidance must not be given");
  }
  const int64_t text_tokens = encoder_hidden_states.size(1);
  if (img_ids.dim() != 3 || txt_ids.dim() != 3 || img_ids.size(1) != hidden_states.size(1) ||
      txt_ids.size(1) != text_tokens) {
    throw UsageError(
        "FluxTransformer: img_ids and txt_ids must be [B, tokens, 3], one row per "
        "image and text token");
  }
  at::Tensor image = x_embedder_(hidden_states.to(device_, dtype_));
  at::Tensor conditioning = timestep_embedder_(scaled_sinusoids(timestep, dtype_, device_)) +
                            text_embedder_(pooled_projections.to(device_, dtype_));
  if (guidance_embedder_)
    conditioning =
        conditioning + (*guidance_embedder_)(scaled_sinusoids(guidance, dtype_, device_));
  at::Tensor text = context_embedder_(encoder_hidden_states.to(device_, dtype_));
  const at::Tensor rope = rope_table(at::cat({txt_ids.to(device_), img_ids.to(device_)}, 1),
                                     config_.axes_dims_rope, kRopeTheta);
  for (const JointBlock& block : double_blocks_)
    block(image, text, conditioning, rope);
  at::Tensor joined = at::cat({text, image}, 1);
  for (const SingleBlock& block : single_blocks_)
    joined = run_single(block, joined, conditioning, rope);
  image = joined.narrow(1, text_tokens, joined.size(1) - text_tokens);
  const std::vector<at::Tensor> scale_shift = norm_out_(at::silu(conditioning)).chunk(2, 1);
  return proj_out_(
      modulate(plain_layer_norm(image), scale_shift[1].unsqueeze(1), scale_shift[0].unsqueeze(1)));
}

}  // namespace xdit::models
