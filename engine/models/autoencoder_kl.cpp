#include "models/autoencoder_kl.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cctype>
#include <utility>

#include "core/error.hpp"

namespace xdit::models {
namespace {

Activation parse_activation(const io::Config& config) {
  std::string name = config.get_or<std::string>("act_fn", "silu");
  // diffusers' get_activation lower-cases the name.
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (name == "silu" || name == "swish")
    return Activation::kSilu;
  if (name == "mish")
    return Activation::kMish;
  if (name == "gelu")
    return Activation::kGelu;
  if (name == "relu")
    return Activation::kRelu;
  config.fail("act_fn", "is '" + name + "'; supported: silu, swish, mish, gelu, relu");
}

void require_positive(const io::Config& config, const char* key, int64_t value) {
  if (value < 1)
    config.fail(key, "must be at least 1, got " + std::to_string(value));
}

void require_block_types(const io::Config& config, const char* key,
                         const std::vector<std::string>& types, const std::string& supported,
                         size_t blocks) {
  if (types.size() != blocks) {
    config.fail(key, "lists " + std::to_string(types.size()) + " blocks, block_out_channels " +
                         std::to_string(blocks));
  }
  for (const auto& type : types) {
    if (type != supported) {
      config.fail(key, "contains '" + type + "'; AutoencoderKL supports only " + supported);
    }
  }
}

// Encoder and decoder inputs must be [B, channels, H, W].
void check_input(const at::Tensor& x, int64_t channels, const char* what) {
  if (x.dim() != 4 || x.size(1) != channels) {
    throw UsageError(std::string("AutoencoderKL: ") + what + " must be [B, " +
                     std::to_string(channels) + ", H, W], got " + c10::str(x.sizes()));
  }
}

}  // namespace

AutoencoderKLConfig AutoencoderKLConfig::from_config(const io::Config& config) {
  AutoencoderKLConfig c;
  c.in_channels = config.get_or("in_channels", c.in_channels);
  c.out_channels = config.get_or("out_channels", c.out_channels);
  c.down_block_types = config.get_or("down_block_types", c.down_block_types);
  c.up_block_types = config.get_or("up_block_types", c.up_block_types);
  c.block_out_channels = config.get_or("block_out_channels", c.block_out_channels);
  c.layers_per_block = config.get_or("layers_per_block", c.layers_per_block);
  c.act_fn = parse_activation(config);
  c.latent_channels = config.get_or("latent_channels", c.latent_channels);
  c.norm_num_groups = config.get_or("norm_num_groups", c.norm_num_groups);
  c.scaling_factor = config.get_or("scaling_factor", c.scaling_factor);
  c.shift_factor = config.get_optional<double>("shift_factor");
  c.use_quant_conv = config.get_or("use_quant_conv", c.use_quant_conv);
  c.use_post_quant_conv = config.get_or("use_post_quant_conv", c.use_post_quant_conv);
  c.mid_block_add_attention = config.get_or("mid_block_add_attention", c.mid_block_add_attention);
  c.force_upcast = config.get_or("force_upcast", c.force_upcast);

  require_positive(config, "in_channels", c.in_channels);
  require_positive(config, "out_channels", c.out_channels);
  require_positive(config, "latent_channels", c.latent_channels);
  require_positive(config, "layers_per_block", c.layers_per_block);
  require_positive(config, "norm_num_groups", c.norm_num_groups);
  if (c.block_out_channels.empty())
    config.fail("block_out_channels", "is empty");
  for (const int64_t channels : c.block_out_channels) {
    if (channels < 1 || channels % c.norm_num_groups != 0) {
      config.fail("block_out_channels", "has " + std::to_string(channels) +
                                            " channels, which norm_num_groups " +
                                            std::to_string(c.norm_num_groups) + " does not divide");
    }
  }
  const size_t blocks = c.block_out_channels.size();
  require_block_types(config, "down_block_types", c.down_block_types, "DownEncoderBlock2D", blocks);
  require_block_types(config, "up_block_types", c.up_block_types, "UpDecoderBlock2D", blocks);
  return c;
}

int64_t AutoencoderKLConfig::spatial_scale() const {
  return int64_t{1} << (block_out_channels.size() - 1);
}

VaeEncoder::VaeEncoder(const AutoencoderKLConfig& config, const io::Weights& weights)
    : conv_in_(Conv2d::load(weights.sub("conv_in"), config.in_channels,
                            config.block_out_channels.front(), 3, 1, 1)),
      mid_block_(weights.sub("mid_block"), config.block_out_channels.back(), config.norm_num_groups,
                 config.act_fn, config.mid_block_add_attention),
      conv_norm_out_(GroupNorm::load(weights.sub("conv_norm_out"), config.norm_num_groups,
                                     config.block_out_channels.back(), kVaeNormEps)),
      conv_out_(Conv2d::load(weights.sub("conv_out"), config.block_out_channels.back(),
                             2 * config.latent_channels, 3, 1, 1)) {
  const auto& channels = config.block_out_channels;
  int64_t in_channels = channels.front();
  for (size_t i = 0; i < channels.size(); ++i) {
    down_blocks_.emplace_back(weights.sub("down_blocks." + std::to_string(i)),
                              config.layers_per_block, in_channels, channels[i],
                              config.norm_num_groups, config.act_fn, i + 1 < channels.size());
    in_channels = channels[i];
  }
}

at::Tensor VaeEncoder::forward(const at::Tensor& x, SpatialOps& ops) const {
  at::Tensor h = ops.conv(x, conv_in_);
  for (const auto& block : down_blocks_)
    h = block.forward(std::move(h), ops);
  h = mid_block_.forward(std::move(h), ops);
  h = ops.group_norm(h, conv_norm_out_);
  at::silu_(h);
  return ops.conv(h, conv_out_);
}

VaeDecoder::VaeDecoder(const AutoencoderKLConfig& config, const io::Weights& weights)
    : conv_in_(Conv2d::load(weights.sub("conv_in"), config.latent_channels,
                            config.block_out_channels.back(), 3, 1, 1)),
      mid_block_(weights.sub("mid_block"), config.block_out_channels.back(), config.norm_num_groups,
                 config.act_fn, config.mid_block_add_attention),
      conv_norm_out_(GroupNorm::load(weights.sub("conv_norm_out"), config.norm_num_groups,
                                     config.block_out_channels.front(), kVaeNormEps)),
      conv_out_(Conv2d::load(weights.sub("conv_out"), config.block_out_channels.front(),
                             config.out_channels, 3, 1, 1)) {
  // Up blocks walk block_out_channels backwards and hold one resnet more
  // than the encoder's down blocks.
  const auto& channels = config.block_out_channels;
  const size_t blocks = channels.size();
  int64_t in_channels = channels.back();
  for (size_t i = 0; i < blocks; ++i) {
    const int64_t out_channels = channels[blocks - 1 - i];
    up_blocks_.emplace_back(weights.sub("up_blocks." + std::to_string(i)),
                            config.layers_per_block + 1, in_channels, out_channels,
                            config.norm_num_groups, config.act_fn, i + 1 < blocks);
    in_channels = out_channels;
  }
}

at::Tensor VaeDecoder::forward(const at::Tensor& z, SpatialOps& ops) const {
  at::Tensor h = ops.conv(z, conv_in_);
  h = mid_block_.forward(std::move(h), ops);
  for (const auto& block : up_blocks_)
    h = block.forward(std::move(h), ops);
  return ops.norm_act_conv(std::move(h), conv_norm_out_, Activation::kSilu, conv_out_,
                           /*x_reusable=*/true);
}

AutoencoderKL::AutoencoderKL(AutoencoderKLConfig config, const io::Weights& weights, Parts parts)
    : config_(std::move(config)),
      dtype_(weights.dtype()),
      device_(weights.device()),
      decoder_(config_, weights.sub("decoder")) {
  const int64_t latent = config_.latent_channels;
  if (parts == Parts::kEncoderAndDecoder) {
    encoder_.emplace(config_, weights.sub("encoder"));
    if (config_.use_quant_conv) {
      quant_conv_ = Conv2d::load(weights.sub("quant_conv"), 2 * latent, 2 * latent, 1);
    }
  } else {
    weights.skip("encoder");
    if (config_.use_quant_conv)
      weights.skip("quant_conv");
  }
  if (config_.use_post_quant_conv) {
    post_quant_conv_ = Conv2d::load(weights.sub("post_quant_conv"), latent, latent, 1);
  }
}

at::Tensor AutoencoderKL::decode(const at::Tensor& z) const {
  SpatialOps local;
  return decode(z, local);
}

at::Tensor AutoencoderKL::decode(const at::Tensor& z, SpatialOps& ops) const {
  check_input(z, config_.latent_channels, "decode's latents");
  at::Tensor h = z.to(device_, dtype_);
  if (post_quant_conv_)
    h = (*post_quant_conv_)(h);
  return decoder_.forward(h, ops);
}

EncoderOutput AutoencoderKL::encode(const at::Tensor& x) const {
  if (!encoder_) {
    throw UsageError(
        "AutoencoderKL: encode() on a model built without its encoder (Parts::kDecoder)");
  }
  check_input(x, config_.in_channels, "encode's images");
  SpatialOps local;
  at::Tensor moments = encoder_->forward(x.to(device_, dtype_), local);
  if (quant_conv_)
    moments = (*quant_conv_)(moments);
  const int64_t latent = config_.latent_channels;
  return {moments.narrow(1, 0, latent).contiguous(),
          moments.narrow(1, latent, latent).clamp(-30.0, 20.0)};
}

}  // namespace xdit::models
