#include "models/flux_transformer.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "core/error.hpp"
#include "models/rope.hpp"

namespace xdit::models {

using io::require_positive;

namespace {

constexpr int64_t kSinusoidChannels = 256;
constexpr double kRopeTheta = 10000.0;
constexpr int64_t kPack = 2;  // latent pixels per token along a side

// The sinusoids of a [B] tensor scaled by 1000 in `dtype`, as the model
// scales timestep and guidance before embedding them.
at::Tensor scaled_sinusoids(const at::Tensor& values, at::ScalarType dtype, at::Device device) {
  const at::Tensor scaled = values.to(device, dtype).reshape({-1}) * 1000;
  return timestep_sinusoids(scaled, kSinusoidChannels, /*flip_sin_to_cos=*/true,
                            /*downscale_freq_shift=*/0)
      .to(dtype);
}

std::string shape_of(const at::Tensor& t) {
  return t.defined() ? c10::str(t.sizes()) : "none";
}

// The ids (0, row, column) of the image tokens of `span`: [1, count, 3].
at::Tensor image_ids(const TokenSpan& span) {
  const at::Tensor token =
      at::arange(span.first, span.first + span.count, at::TensorOptions().dtype(at::kLong));
  const int64_t width = span.grid.grid_width;
  return at::stack({at::zeros_like(token), token.div(width, "floor"), token.remainder(width)}, -1)
      .to(at::kDouble)
      .unsqueeze(0);
}

at::Tensor per_sample(const at::Tensor& v) {
  return v.unsqueeze(1);
}

}  // namespace

FluxConfig FluxConfig::from_config(const io::Config& config) {
  FluxConfig c;
  c.patch_size = config.get_or<int64_t>("patch_size", c.patch_size);
  c.in_channels = config.get_or<int64_t>("in_channels", c.in_channels);
  c.out_channels = config.get_or<int64_t>("out_channels", c.in_channels);
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
  for (const auto& [key, value] :
       {std::pair{"in_channels", in_channels}, std::pair{"out_channels", out_channels}}) {
    if (value < 1 || value % (kPack * kPack) != 0) {
      throw ConfigError(source, key,
                        "must be a positive multiple of 4 (2 x 2 packed latent channels), got " +
                            std::to_string(value));
    }
  }
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

FluxSingleBlock::FluxSingleBlock(const io::Weights& weights, const JointBlockShape& shape,
                                 int64_t layer)
    : shape_(shape), layer_(layer) {
  const int64_t dim = shape.dim;
  const TensorShard& shard = shape.shard;
  modulation_ = Linear::load(weights.sub("norm.linear"), dim, 3 * dim);
  heads_ = HeadProjections::load(weights.sub("attn"), shape);
  proj_mlp_ = shard.load_column(weights.sub("proj_mlp"), dim, 4 * dim);
  const io::Weights out = weights.sub("proj_out");
  if (!shard.is_split()) {
    proj_out_ = Linear::load(out, 5 * dim, dim);
    return;
  }
  // The shard's heads among the attention's columns, its width among the MLP's.
  const std::vector<int64_t> whole = {dim, 5 * dim};
  const int64_t attention_part = shard.part(dim, "attention features of " + out.prefix());
  const int64_t mlp_part = shard.part(4 * dim, "MLP features of " + out.prefix());
  out_attention_.weight =
      out.get_slice("weight", whole, 1, shard.index * attention_part, attention_part);
  out_mlp_.weight = out.get_slice("weight", whole, 1, dim + shard.index * mlp_part, mlp_part);
  out_mlp_.bias = out.get("bias", {dim});
}

at::Tensor FluxSingleBlock::project_out(const at::Tensor& attended,
                                        const at::Tensor& normed) const {
  const at::Tensor merged = attended.transpose(1, 2).reshape(
      {attended.size(0), attended.size(2), attended.size(1) * attended.size(3)});
  at::Tensor mlp = proj_mlp_(normed);
  at::gelu_(mlp, "tanh");
  if (!shape_.shard.is_split())
    return proj_out_(at::cat({merged, mlp}, 2));
  at::Tensor partial =
      at::linear(merged, out_attention_.weight).add_(at::linear(mlp, out_mlp_.weight));
  shape_.shard.sums->sum_(partial);
  return partial.add_(out_mlp_.bias);
}

void FluxSingleBlock::operator()(at::Tensor& image, at::Tensor& text,
                                 const at::Tensor& conditioning, const JointRope& rope,
                                 AttentionStrategy& attention) const {
  const std::vector<at::Tensor> m = modulation_(at::silu(conditioning)).chunk(3, 1);
  const at::Tensor image_in = modulate(plain_layer_norm(image), per_sample(m[0]), per_sample(m[1]));
  const at::Tensor text_in = modulate(plain_layer_norm(text), per_sample(m[0]), per_sample(m[1]));
  const double scale = 1.0 / std::sqrt(static_cast<double>(shape_.head_dim));
  const JointOutput attended =
      attention.attend(layer_, heads_(image_in, rope.image), heads_(text_in, rope.text),
                       JointOrder::kTextFirst, scale);
  image = at::addcmul(image, per_sample(m[2]), project_out(attended.image, image_in));
  text = at::addcmul(text, per_sample(m[2]), project_out(attended.text, text_in));
}

FluxTransformer::FluxTransformer(const FluxConfig& config, const io::Weights& weights,
                                 DitStage stage, const TensorShard& shard)
    : config_(config),
      stage_(stage.resolved(config.num_layers + config.num_single_layers, "Flux")),
      dtype_(weights.dtype()),
      device_(weights.device()) {
  config_.validate("FluxConfig");
  const int64_t bytes_before = weights.bytes_handed_out();
  const int64_t dim = config_.inner_dim();
  shape_ = {
      kPack, config_.in_channels / (kPack * kPack), config_.out_channels / (kPack * kPack),
      dim,   config_.num_attention_heads,           config_.num_layers + config_.num_single_layers};
  const io::Weights time_text = weights.sub("time_text_embed");
  timestep_embedder_ =
      TimestepEmbedding::load(time_text.sub("timestep_embedder"), kSinusoidChannels, dim);
  if (config_.guidance_embeds) {
    guidance_embedder_ =
        TimestepEmbedding::load(time_text.sub("guidance_embedder"), kSinusoidChannels, dim);
  }
  text_embedder_ =
      TimestepEmbedding::load(time_text.sub("text_embedder"), config_.pooled_projection_dim, dim);
  if (stage_.embeds_input) {
    context_embedder_ =
        Linear::load(weights.sub("context_embedder"), config_.joint_attention_dim, dim);
    x_embedder_ = Linear::load(weights.sub("x_embedder"), config_.in_channels, dim);
  } else {
    weights.skip("context_embedder");
    weights.skip("x_embedder");
  }
  JointBlockShape block;
  block.dim = dim;
  block.heads = config_.num_attention_heads;
  block.head_dim = config_.attention_head_dim;
  block.order = JointOrder::kTextFirst;
  block.qk_norm = true;
  block.shard = shard;
  for (int64_t layer = 0; layer < shape_.num_layers; ++layer) {
    const bool single = layer >= config_.num_layers;
    const std::string name =
        single ? "single_transformer_blocks." + std::to_string(layer - config_.num_layers)
               : "transformer_blocks." + std::to_string(layer);
    if (!stage_.holds(layer)) {
      weights.skip(name);
    } else if (single) {
      single_blocks_.emplace_back(weights.sub(name), block, layer);
    } else {
      double_blocks_.emplace_back(weights.sub(name), block, layer);
    }
  }
  if (stage_.owns_output) {
    norm_out_ = ContinuousAdaNorm{Linear::load(weights.sub("norm_out.linear"), dim, 2 * dim)};
    proj_out_ = Linear::load(weights.sub("proj_out"), dim, config_.out_channels);
  } else {
    weights.skip("norm_out");
    weights.skip("proj_out");
  }
  parameter_bytes_ = weights.bytes_handed_out() - bytes_before;
}

at::Tensor FluxTransformer::rope_of(const at::Tensor& ids) const {
  return rope_table(ids.to(device_), config_.axes_dims_rope, kRopeTheta);
}

std::unique_ptr<FluxStep> FluxTransformer::condition_sigma(const at::Tensor& sigma,
                                                           const DitInputs& inputs) const {
  const at::Tensor& text = inputs.text;
  const at::Tensor& pooled = inputs.pooled_text;
  const at::Tensor& guidance = inputs.guidance;
  if (!text.defined() || text.dim() != 3 || text.size(2) != config_.joint_attention_dim) {
    throw UsageError("FluxTransformer: encoder_hidden_states must be [B, L, " +
                     std::to_string(config_.joint_attention_dim) + "], got " + shape_of(text));
  }
  const int64_t batch = text.size(0);
  if (!pooled.defined() || pooled.dim() != 2 || pooled.size(0) != batch ||
      pooled.size(1) != config_.pooled_projection_dim) {
    throw UsageError("FluxTransformer: pooled_projections must be [" + std::to_string(batch) +
                     ", " + std::to_string(config_.pooled_projection_dim) + "], got " +
                     shape_of(pooled));
  }
  if (!sigma.defined() || (sigma.numel() != batch && sigma.numel() != 1)) {
    throw UsageError("FluxTransformer: timestep must hold 1 or " + std::to_string(batch) +
                     " values, got " + shape_of(sigma));
  }
  if (guidance.defined() != config_.guidance_embeds ||
      (guidance.defined() && guidance.numel() != batch && guidance.numel() != 1)) {
    throw UsageError(config_.guidance_embeds
                         ? "FluxTransformer: this model is guidance-distilled (dev): it needs a "
                           "guidance scale per sample"
                         : "FluxTransformer: this model has no guidance embedder (schnell): "
                           "guidance must not be given");
  }
  const auto widened = [&](const at::Tensor& t) { return t.reshape({-1}).expand({batch}); };
  auto step = std::make_unique<FluxStep>();
  at::Tensor embedded = timestep_embedder_(scaled_sinusoids(widened(sigma), dtype_, device_));
  // As diffusers sums them: (timestep + guidance) + pooled text.
  if (guidance_embedder_)
    embedded =
        embedded + (*guidance_embedder_)(scaled_sinusoids(widened(guidance), dtype_, device_));
  step->conditioning = embedded + text_embedder_(pooled.to(device_, dtype_));
  if (context_embedder_)
    step->text = (*context_embedder_)(text.to(device_, dtype_));
  step->text_length = text.size(1);
  step->text_rope = rope_of(at::zeros({1, text.size(1), 3}, at::kDouble));
  return step;
}

std::unique_ptr<DitStep> FluxTransformer::condition(const at::Tensor& timestep,
                                                    const DitInputs& inputs) const {
  if (!timestep.defined())
    throw UsageError("FluxTransformer: a timestep is needed");
  // The pipeline hands the model sigma, the scheduler's timestep / 1000 (in
  // float32; exactly for a float64 model's reference twin).
  return condition_sigma(timestep.to(dtype_ == at::kDouble ? at::kDouble : at::kFloat) / 1000,
                         inputs);
}

DitHidden FluxTransformer::embed(const at::Tensor& latent, const TokenSpan& span,
                                 const DitStep& step) const {
  if (!x_embedder_)
    throw UsageError("this Flux stage does not hold the input embedding");
  const PatchRows rows = span.rows();
  const int64_t batch = latent.size(0);
  const int64_t channels = shape_.latent_channels;
  // diffusers' _pack_latents: each 2 x 2 patch's channels as (c, dy, dx).
  const at::Tensor packed =
      latent.to(device_, dtype_)
          .view({batch, channels, rows.num_rows, kPack, rows.grid_width, kPack})
          .permute({0, 2, 4, 1, 3, 5})
          .reshape({batch, rows.num_tokens(), channels * kPack * kPack});
  const at::Tensor tokens =
      packed.narrow(1, span.first - rows.first_row * rows.grid_width, span.count);
  return {(*x_embedder_)(tokens), dynamic_cast<const FluxStep&>(step).text};
}

void FluxTransformer::run_layers(DitHidden& hidden, const FluxStep& step, const JointRope& rope,
                                 AttentionStrategy& attention) const {
  for (const JointBlock& block : double_blocks_)
    block(hidden.image, hidden.text, step.conditioning, rope, attention);
  for (const FluxSingleBlock& block : single_blocks_)
    block(hidden.image, hidden.text, step.conditioning, rope, attention);
}

DitHidden FluxTransformer::run_blocks(DitHidden hidden, const TokenSpan& span, const DitStep& step,
                                      AttentionStrategy& attention) const {
  const auto& flux = dynamic_cast<const FluxStep&>(step);
  run_layers(hidden, flux, {rope_of(image_ids(span)), flux.text_rope}, attention);
  return hidden;
}

at::Tensor FluxTransformer::output_patches(const at::Tensor& image, const DitStep& step) const {
  if (!proj_out_)
    throw UsageError("this Flux stage does not hold the output layer");
  return (*proj_out_)((*norm_out_)(image, dynamic_cast<const FluxStep&>(step).conditioning));
}

at::Tensor FluxTransformer::unpatchify(const at::Tensor& patches, const PatchRows& rows) const {
  // diffusers' _unpack_latents.
  const int64_t batch = patches.size(0);
  const int64_t channels = shape_.out_channels;
  return patches.reshape({batch, rows.num_rows, rows.grid_width, channels, kPack, kPack})
      .permute({0, 3, 1, 4, 2, 5})
      .reshape({batch, channels, rows.num_rows * kPack, rows.grid_width * kPack});
}

at::Tensor FluxTransformer::forward(const at::Tensor& hidden_states,
                                    const at::Tensor& encoder_hidden_states,
                                    const at::Tensor& pooled_projections,
                                    const at::Tensor& timestep, const at::Tensor& img_ids,
                                    const at::Tensor& txt_ids, const at::Tensor& guidance) const {
  if (!stage_.is_whole(shape_.num_layers))
    throw UsageError("forward needs the whole Flux transformer; this instance holds a stage");
  const int64_t batch = hidden_states.dim() == 3 ? hidden_states.size(0) : -1;
  if (batch < 1 || hidden_states.size(2) != config_.in_channels) {
    throw UsageError("FluxTransformer: expected hidden_states [B, N, " +
                     std::to_string(config_.in_channels) + "], got " + shape_of(hidden_states));
  }
  DitInputs inputs;
  inputs.text = encoder_hidden_states;
  inputs.pooled_text = pooled_projections;
  inputs.guidance = guidance;
  const std::unique_ptr<FluxStep> step = condition_sigma(timestep, inputs);
  if (step->batch() != batch) {
    throw UsageError("FluxTransformer: hidden_states hold " + std::to_string(batch) +
                     " samples but the text " + std::to_string(step->batch()));
  }
  if (img_ids.dim() != 3 || txt_ids.dim() != 3 || img_ids.size(1) != hidden_states.size(1) ||
      txt_ids.size(1) != encoder_hidden_states.size(1)) {
    throw UsageError(
        "FluxTransformer: img_ids and txt_ids must be [B, tokens, 3], one row per "
        "image and text token");
  }
  DitHidden hidden{(*x_embedder_)(hidden_states.to(device_, dtype_)), step->text};
  LocalAttention local;
  run_layers(hidden, *step, {rope_of(img_ids), rope_of(txt_ids)}, local);
  return output_patches(hidden.image, *step);
}

}  // namespace xdit::models
