#include "models/sd3_transformer.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.hpp"

namespace xdit::models {

using io::require_positive;

namespace {

constexpr int64_t kSinusoidChannels = 256;

std::string shape_of(const at::Tensor& t) {
  return t.defined() ? c10::str(t.sizes()) : "none";
}

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
  if (const auto qk_norm = config.get_optional<std::string>("qk_norm")) {
    if (*qk_norm != "rms_norm")
      config.fail("qk_norm", "is '" + *qk_norm + "'; SD3 supports only 'rms_norm' or null");
    c.qk_norm = true;
  }
  c.dual_attention_layers =
      config.get_or<std::vector<int64_t>>("dual_attention_layers", c.dual_attention_layers);
  for (const int64_t layer : c.dual_attention_layers) {
    if (layer < 0 || layer >= c.num_layers) {
      config.fail("dual_attention_layers",
                  "names layer " + std::to_string(layer) + " of " + std::to_string(c.num_layers));
    }
  }
  // Dual attention would read the last block's text stream, which ends there.
  if (c.has_dual_attention(c.num_layers - 1))
    config.fail("dual_attention_layers", "cannot include the last layer");
  c.validate(config.source());
  return c;
}

bool SD3Config::has_dual_attention(int64_t layer) const {
  return std::find(dual_attention_layers.begin(), dual_attention_layers.end(), layer) !=
         dual_attention_layers.end();
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

SD3Transformer::SD3Transformer(const SD3Config& config, const io::Weights& weights, DitStage stage,
                               const TensorShard& shard)
    : config_(config),
      stage_(stage.resolved(config.num_layers, "SD3")),
      dtype_(weights.dtype()),
      device_(weights.device()) {
  config_.validate("SD3Config");
  const int64_t bytes_before = weights.bytes_handed_out();
  const int64_t dim = config_.inner_dim();
  shape_ = {config_.patch_size,          config_.in_channels, config_.out_channels, dim,
            config_.num_attention_heads, config_.num_layers};
  if (stage_.embeds_input) {
    pos_embed_ = PatchEmbed::load_cropped(weights.sub("pos_embed"), config_.in_channels, dim,
                                          config_.patch_size, config_.pos_embed_max_size);
    context_embedder_ =
        Linear::load(weights.sub("context_embedder"), config_.joint_attention_dim, dim);
  } else {
    weights.skip("pos_embed");
    weights.skip("context_embedder");
  }
  const io::Weights time_text = weights.sub("time_text_embed");
  timestep_embedder_ =
      TimestepEmbedding::load(time_text.sub("timestep_embedder"), kSinusoidChannels, dim);
  text_embedder_ =
      TimestepEmbedding::load(time_text.sub("text_embedder"), config_.pooled_projection_dim, dim);
  for (int64_t i = 0; i < config_.num_layers; ++i) {
    const std::string name = "transformer_blocks." + std::to_string(i);
    if (!stage_.holds(i)) {
      weights.skip(name);
      continue;
    }
    JointBlockShape block;
    block.dim = dim;
    block.heads = config_.num_attention_heads;
    block.head_dim = config_.attention_head_dim;
    block.order = JointOrder::kImageFirst;
    block.qk_norm = config_.qk_norm;
    block.context_pre_only = i + 1 == config_.num_layers;
    block.dual_attention = config_.has_dual_attention(i);
    block.shard = shard;
    // Dual attentions take the indices after the joint ones.
    blocks_.emplace_back(weights.sub(name), block, i, config_.num_layers + i);
  }
  if (stage_.owns_output) {
    norm_out_ = ContinuousAdaNorm{Linear::load(weights.sub("norm_out.linear"), dim, 2 * dim)};
    proj_out_ = Linear::load(weights.sub("proj_out"), dim,
                             config_.patch_size * config_.patch_size * config_.out_channels);
  } else {
    weights.skip("norm_out");
    weights.skip("proj_out");
  }
  parameter_bytes_ = weights.bytes_handed_out() - bytes_before;
}

std::unique_ptr<DitStep> SD3Transformer::condition(const at::Tensor& timestep,
                                                   const DitInputs& inputs) const {
  const at::Tensor& text = inputs.text;
  const at::Tensor& pooled = inputs.pooled_text;
  if (!text.defined() || text.dim() != 3 || text.size(2) != config_.joint_attention_dim) {
    throw UsageError("SD3Transformer: encoder_hidden_states must be [B, L, " +
                     std::to_string(config_.joint_attention_dim) + "], got " + shape_of(text));
  }
  const int64_t batch = text.size(0);
  if (!pooled.defined() || pooled.dim() != 2 || pooled.size(0) != batch ||
      pooled.size(1) != config_.pooled_projection_dim) {
    throw UsageError("SD3Transformer: pooled_projections must be [" + std::to_string(batch) + ", " +
                     std::to_string(config_.pooled_projection_dim) + "], got " + shape_of(pooled));
  }
  if (!timestep.defined() || (timestep.numel() != batch && timestep.numel() != 1)) {
    throw UsageError("SD3Transformer: timestep must hold 1 or " + std::to_string(batch) +
                     " values, got " + shape_of(timestep));
  }
  auto step = std::make_unique<SD3Step>();
  const at::Tensor sinusoids =
      timestep_sinusoids(timestep.to(device_, dtype_ == at::kDouble ? at::kDouble : at::kFloat)
                             .reshape({-1})
                             .expand({batch}),
                         kSinusoidChannels,
                         /*flip_sin_to_cos=*/true, /*downscale_freq_shift=*/0);
  step->conditioning =
      timestep_embedder_(sinusoids.to(dtype_)) + text_embedder_(pooled.to(device_, dtype_));
  if (context_embedder_)
    step->text = (*context_embedder_)(text.to(device_, dtype_));
  step->text_length = text.size(1);
  return step;
}

DitHidden SD3Transformer::embed(const at::Tensor& latent, const TokenSpan& span,
                                const DitStep& step) const {
  if (!pos_embed_)
    throw UsageError("this SD3 stage does not hold the patch embedding");
  const PatchRows rows = span.rows();
  const at::Tensor tokens = (*pos_embed_)(latent.to(device_, dtype_), rows);
  return {tokens.narrow(1, span.first - rows.first_row * rows.grid_width, span.count),
          dynamic_cast<const SD3Step&>(step).text};
}

DitHidden SD3Transformer::run_blocks(DitHidden hidden, const TokenSpan& /*span*/,
                                     const DitStep& step, AttentionStrategy& attention) const {
  const auto& sd3 = dynamic_cast<const SD3Step&>(step);
  for (const JointBlock& block : blocks_)
    block(hidden.image, hidden.text, sd3.conditioning, {}, attention);
  return hidden;
}

at::Tensor SD3Transformer::output_patches(const at::Tensor& image, const DitStep& step) const {
  if (!proj_out_)
    throw UsageError("this SD3 stage does not hold the output layer");
  return (*proj_out_)((*norm_out_)(image, dynamic_cast<const SD3Step&>(step).conditioning));
}

at::Tensor SD3Transformer::unpatchify(const at::Tensor& patches, const PatchRows& rows) const {
  return models::unpatchify(patches, rows, config_.patch_size, config_.out_channels);
}

at::Tensor SD3Transformer::forward(const at::Tensor& hidden_states,
                                   const at::Tensor& encoder_hidden_states,
                                   const at::Tensor& pooled_projections,
                                   const at::Tensor& timestep) const {
  DitInputs inputs;
  inputs.text = encoder_hidden_states;
  inputs.pooled_text = pooled_projections;
  return predict(hidden_states, timestep, inputs);
}

}  // namespace xdit::models
