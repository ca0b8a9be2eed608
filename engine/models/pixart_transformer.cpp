#include "models/pixart_transformer.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <string>

#include "core/error.hpp"

namespace xdit::models {
namespace {

// The output layer's LayerNorm eps is fixed in diffusers, unlike the blocks'.
constexpr double kOutputNormEps = 1e-6;
// diffusers turns a 0/1 keep-mask into this additive bias.
constexpr double kMaskedBias = -10000.0;

std::string shape_of(const at::Tensor& t) {
  return t.defined() ? c10::str(t.sizes()) : "none";
}

// diffusers distinguishes a missing key (the __init__ default) from an
// explicit null (which some keys give a meaning of their own).
std::optional<int64_t> int_or_null(const io::Config& config, const char* key,
                                   std::optional<int64_t> missing) {
  if (!config.json().contains(key))
    return missing;
  return config.get_optional<int64_t>(key);
}

void require_positive(const io::Config& config, const char* key, double value) {
  if (!(value > 0))
    config.fail(key, "must be positive, got " + std::to_string(value));
}

FeedForwardActivation parse_activation(const io::Config& config) {
  const std::string name = config.get_or<std::string>("activation_fn", "gelu-approximate");
  if (name == "gelu-approximate")
    return FeedForwardActivation::kGeluTanh;
  if (name == "gelu")
    return FeedForwardActivation::kGelu;
  config.fail("activation_fn", "is '" + name + "'; PixArt supports 'gelu-approximate' and 'gelu'");
}

}  // namespace

PixArtConfig PixArtConfig::from_config(const io::Config& config) {
  PixArtConfig c;
  c.num_attention_heads = config.get_or<int64_t>("num_attention_heads", c.num_attention_heads);
  c.attention_head_dim = config.get_or<int64_t>("attention_head_dim", c.attention_head_dim);
  c.in_channels = config.get<int64_t>("in_channels");
  c.out_channels = int_or_null(config, "out_channels", c.out_channels).value_or(c.in_channels);
  c.num_layers = config.get_or<int64_t>("num_layers", c.num_layers);
  c.cross_attention_dim = int_or_null(config, "cross_attention_dim", c.cross_attention_dim);
  c.attention_bias = config.get_or<bool>("attention_bias", c.attention_bias);
  c.sample_size = config.get<int64_t>("sample_size");
  c.patch_size = config.get<int64_t>("patch_size");
  c.activation_fn = parse_activation(config);
  const auto ada_norm_embeds = int_or_null(config, "num_embeds_ada_norm", c.num_embeds_ada_norm);
  if (!ada_norm_embeds)
    config.fail("num_embeds_ada_norm", "must be set for ada_norm_single");
  c.num_embeds_ada_norm = *ada_norm_embeds;
  c.upcast_attention = config.get_or<bool>("upcast_attention", c.upcast_attention);
  const std::string norm_type = config.get_or<std::string>("norm_type", "ada_norm_single");
  if (norm_type != "ada_norm_single") {
    config.fail("norm_type", "is '" + norm_type + "'; PixArt supports only 'ada_norm_single'");
  }
  const std::string attention_type = config.get_or<std::string>("attention_type", "default");
  if (attention_type != "default") {
    config.fail("attention_type", "is '" + attention_type + "'; only 'default' is supported");
  }
  c.norm_elementwise_affine =
      config.get_or<bool>("norm_elementwise_affine", c.norm_elementwise_affine);
  c.norm_eps = config.get_or<double>("norm_eps", c.norm_eps);
  c.interpolation_scale =
      config.get_optional<double>("interpolation_scale")
          .value_or(static_cast<double>(std::max<int64_t>(c.sample_size / 64, 1)));
  c.use_additional_conditions =
      config.get_optional<bool>("use_additional_conditions").value_or(c.sample_size == 128);
  c.caption_channels = config.get_optional<int64_t>("caption_channels");
  // dropout (inference ignores it) and norm_num_groups (PixArt has no group
  // norm) do not change the math.

  const std::pair<const char*, int64_t> sizes[] = {
      {"num_attention_heads", c.num_attention_heads},
      {"attention_head_dim", c.attention_head_dim},
      {"in_channels", c.in_channels},
      {"out_channels", c.out_channels},
      {"num_layers", c.num_layers},
      {"sample_size", c.sample_size},
      {"patch_size", c.patch_size},
      {"cross_attention_dim", c.cross_attention_dim.value_or(1)},
      {"caption_channels", c.caption_channels.value_or(1)}};
  for (const auto& [key, value] : sizes)
    require_positive(config, key, static_cast<double>(value));
  require_positive(config, "norm_eps", c.norm_eps);
  require_positive(config, "interpolation_scale", c.interpolation_scale);
  if (c.sample_size < c.patch_size) {
    config.fail("sample_size", "(" + std::to_string(c.sample_size) +
                                   ") is smaller than patch_size (" + std::to_string(c.patch_size) +
                                   ")");
  }
  if (c.inner_dim() % 4 != 0) {
    config.fail("attention_head_dim",
                "times num_attention_heads = " + std::to_string(c.inner_dim()) +
                    " must be divisible by 4 for the 2-D sin-cos position embedding");
  }
  if (c.use_additional_conditions && c.inner_dim() % 3 != 0) {
    config.fail("use_additional_conditions",
                "needs num_attention_heads * attention_head_dim (" + std::to_string(c.inner_dim()) +
                    ") divisible by 3 for the resolution and aspect-ratio embeddings");
  }
  if (c.caption_channels && c.cross_attention_dim && *c.cross_attention_dim != c.inner_dim()) {
    config.fail("cross_attention_dim",
                "(" + std::to_string(*c.cross_attention_dim) +
                    ") must equal num_attention_heads * attention_head_dim (" +
                    std::to_string(c.inner_dim()) + ") when the caption is projected");
  }
  return c;
}

std::optional<int64_t> PixArtConfig::text_channels() const {
  if (!cross_attention_dim)
    return std::nullopt;
  return caption_channels ? caption_channels : cross_attention_dim;
}

PixArtTransformer::PixArtTransformer(PixArtConfig config, const io::Weights& weights,
                                     DitStage stage, const TensorShard& shard)
    : config_(std::move(config)),
      stage_(stage.resolved(config_.num_layers, "PixArt")),
      dtype_(weights.dtype()),
      device_(weights.device()),
      norm_out_(LayerNorm::plain(config_.inner_dim(), kOutputNormEps)) {
  const int64_t bytes_before = weights.bytes_handed_out();
  const int64_t dim = config_.inner_dim();
  shape_.patch_size = config_.patch_size;
  shape_.latent_channels = config_.in_channels;
  shape_.out_channels = config_.out_channels;
  shape_.inner_dim = dim;
  shape_.heads = config_.num_attention_heads;
  shape_.num_layers = config_.num_layers;

  adaln_single_ =
      AdaLayerNormSingle::load(weights.sub("adaln_single"), dim, config_.use_additional_conditions);
  if (config_.caption_channels) {
    caption_projection_ =
        TextProjection::load(weights.sub("caption_projection"), *config_.caption_channels, dim);
  }

  if (stage_.embeds_input) {
    pos_embed_ =
        PatchEmbed::load(weights.sub("pos_embed"), config_.in_channels, dim, config_.patch_size,
                         config_.base_size(), config_.interpolation_scale);
  } else {
    weights.skip("pos_embed");
  }

  TransformerBlockOptions options;
  options.dim = dim;
  options.heads = config_.num_attention_heads;
  options.head_dim = config_.attention_head_dim;
  options.cross_attention_dim = config_.cross_attention_dim;
  options.attention_bias = config_.attention_bias;
  options.activation = config_.activation_fn;
  options.norm_elementwise_affine = config_.norm_elementwise_affine;
  options.norm_eps = config_.norm_eps;
  options.shard = shard;
  for (int64_t layer = 0; layer < config_.num_layers; ++layer) {
    const std::string name = "transformer_blocks." + std::to_string(layer);
    if (stage_.holds(layer)) {
      blocks_.emplace_back(weights.sub(name), options, layer);
    } else {
      weights.skip(name);
    }
  }

  if (stage_.owns_output) {
    scale_shift_table_ = weights.get("scale_shift_table", {2, dim});
    proj_out_ = Linear::load(weights.sub("proj_out"), dim,
                             config_.patch_size * config_.patch_size * config_.out_channels);
  } else {
    weights.skip("scale_shift_table");
    weights.skip("proj_out");
  }
  parameter_bytes_ = weights.bytes_handed_out() - bytes_before;
}

std::unique_ptr<DitStep> PixArtTransformer::condition(const at::Tensor& timestep,
                                                      const DitInputs& inputs) const {
  if (!timestep.defined() || timestep.numel() == 0) {
    throw UsageError("PixArt needs a timestep, got " + shape_of(timestep));
  }
  const auto text_channels = config_.text_channels();
  int64_t batch = timestep.numel();
  auto conditioning = std::make_unique<PixArtConditioning>();
  if (text_channels) {
    const at::Tensor& text = inputs.text;
    if (!text.defined() || text.dim() != 3 || text.size(2) != *text_channels) {
      throw UsageError("encoder_hidden_states must be [B, L, " + std::to_string(*text_channels) +
                       "], got " + shape_of(text));
    }
    batch = text.size(0);
    conditioning->text = caption_projection_ ? (*caption_projection_)(text.to(device_, dtype_))
                                                   .reshape({batch, -1, config_.inner_dim()})
                                             : text.to(device_, dtype_);
    const at::Tensor& mask = inputs.text_mask;
    if (mask.defined()) {
      const int64_t length = text.size(1);
      const bool keep_mask = mask.dim() == 2;
      const bool bias = mask.dim() == 3 && mask.size(1) == 1;
      if (!(keep_mask || bias) || mask.size(0) != batch || mask.size(-1) != length) {
        throw UsageError("encoder_attention_mask must be [" + std::to_string(batch) + ", " +
                         std::to_string(length) + "] (0/1) or [" + std::to_string(batch) + ", 1, " +
                         std::to_string(length) + "] (bias), got " + shape_of(mask));
      }
      const at::Tensor values = mask.to(device_, dtype_);
      conditioning->text_bias =
          (keep_mask ? (1 - values) * kMaskedBias : values).reshape({batch, 1, 1, length});
    }
  }
  if (timestep.numel() != batch && timestep.numel() != 1) {
    throw UsageError("timestep must hold 1 or " + std::to_string(batch) + " values, got " +
                     shape_of(timestep));
  }
  const auto here = [&](const at::Tensor& t) { return t.defined() ? t.to(device_) : t; };
  const at::Tensor timesteps = here(timestep.reshape({-1}).expand({batch}));
  AdaLayerNormSingleOutput ada =
      adaln_single_(timesteps, here(inputs.resolution), here(inputs.aspect_ratio));
  conditioning->modulation = std::move(ada.modulation);
  conditioning->embedded_timestep = std::move(ada.embedded_timestep);
  return conditioning;
}

DitHidden PixArtTransformer::embed(const at::Tensor& latent, const TokenSpan& span,
                                   const DitStep& /*step*/) const {
  if (!pos_embed_)
    throw UsageError("this PixArt stage does not hold the patch embedding");
  const PatchRows rows = span.rows();
  const at::Tensor tokens = (*pos_embed_)(latent.to(device_), rows);
  return {tokens.narrow(1, span.first - rows.first_row * rows.grid_width, span.count),
          at::Tensor()};
}

DitHidden PixArtTransformer::run_blocks(DitHidden hidden, const TokenSpan& /*span*/,
                                        const DitStep& step, AttentionStrategy& attention) const {
  const auto& conditioning = dynamic_cast<const PixArtConditioning&>(step);
  for (const auto& block : blocks_) {
    hidden.image = block(hidden.image, conditioning.modulation, conditioning.text,
                         conditioning.text_bias, attention);
  }
  return hidden;
}

at::Tensor PixArtTransformer::output_patches(const at::Tensor& image, const DitStep& step) const {
  if (!proj_out_)
    throw UsageError("this PixArt stage does not hold the output layer");
  const auto& conditioning = dynamic_cast<const PixArtConditioning&>(step);
  const std::vector<at::Tensor> shift_scale =
      (scale_shift_table_.unsqueeze(0) + conditioning.embedded_timestep.unsqueeze(1)).chunk(2, 1);
  const at::Tensor modulated = norm_out_(image) * (shift_scale[1] + 1) + shift_scale[0];
  return (*proj_out_)(modulated);
}

at::Tensor PixArtTransformer::unpatchify(const at::Tensor& patches, const PatchRows& rows) const {
  return models::unpatchify(patches, rows, config_.patch_size, config_.out_channels);
}

at::Tensor PixArtTransformer::forward(const at::Tensor& hidden_states,
                                      const at::Tensor& encoder_hidden_states,
                                      const at::Tensor& timestep,
                                      const at::Tensor& encoder_attention_mask,
                                      const at::Tensor& resolution, const at::Tensor& aspect_ratio,
                                      AttentionStrategy* strategy) const {
  DitInputs inputs;
  inputs.text = encoder_hidden_states;
  inputs.text_mask = encoder_attention_mask;
  inputs.resolution = resolution;
  inputs.aspect_ratio = aspect_ratio;
  // A model without text takes its batch from the timestep: widen a single one.
  const bool widen = timestep.defined() && timestep.numel() == 1 && hidden_states.defined() &&
                     hidden_states.dim() == 4;
  return predict(hidden_states,
                 widen ? timestep.reshape({1}).expand({hidden_states.size(0)}) : timestep, inputs,
                 strategy);
}

}  // namespace xdit::models
