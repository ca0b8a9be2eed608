#pragma once
// diffusers v0.30.3 AutoencoderKL: the encoder (image -> mean and log-variance
// of the latent distribution) and the decoder (latent -> image) that every
// supported pipeline uses. Like diffusers, `decode` applies neither
// scaling_factor nor shift_factor: pipelines divide the latents by
// scaling_factor (and add shift_factor) before decoding.

#include <ATen/core/Tensor.h>

#include <optional>
#include <string>
#include <vector>

#include "io/config.hpp"
#include "io/weight_source.hpp"
#include "models/layers.hpp"
#include "models/vae_blocks.hpp"

namespace xdit::models {

// AutoencoderKL's config.json; defaults are diffusers'.
struct AutoencoderKLConfig {
  int64_t in_channels = 3;
  int64_t out_channels = 3;
  std::vector<std::string> down_block_types{"DownEncoderBlock2D"};
  std::vector<std::string> up_block_types{"UpDecoderBlock2D"};
  std::vector<int64_t> block_out_channels{64};
  int64_t layers_per_block = 1;
  Activation act_fn = Activation::kSilu;
  int64_t latent_channels = 4;
  int64_t norm_num_groups = 32;
  double scaling_factor = 0.18215;
  std::optional<double> shift_factor;  // null in config.json: none
  bool use_quant_conv = true;
  bool use_post_quant_conv = true;
  bool mid_block_add_attention = true;
  // A hint to pipelines: decode in float32 even when the model runs in half
  // precision (the SD/SDXL VAEs overflow in float16).
  bool force_upcast = true;

  // Throws ConfigError naming the key for a missing-typed or unsupported value
  // (block types other than DownEncoderBlock2D/UpDecoderBlock2D, an unknown
  // act_fn, channels that norm_num_groups does not divide, ...).
  static AutoencoderKLConfig from_config(const io::Config& config);

  // Image pixels per latent pixel along each side: 2^(blocks - 1).
  int64_t spatial_scale() const;
};

struct EncoderOutput {
  at::Tensor mean;    // [B, latent_channels, h, w]
  at::Tensor logvar;  // same shape, clamped to [-30, 20]
};

// diffusers' Encoder (state_dict prefix "encoder."), double_z: its output has
// 2 * latent_channels channels, the mean first.
class VaeEncoder {
 public:
  VaeEncoder(const AutoencoderKLConfig& config, const io::Weights& weights);
  at::Tensor forward(const at::Tensor& x, SpatialOps& ops) const;

 private:
  Conv2d conv_in_;
  std::vector<DownEncoderBlock2D> down_blocks_;
  VaeMidBlock mid_block_;
  GroupNorm conv_norm_out_;
  Conv2d conv_out_;
};

// diffusers' Decoder (state_dict prefix "decoder.") with group norms.
class VaeDecoder {
 public:
  VaeDecoder(const AutoencoderKLConfig& config, const io::Weights& weights);
  at::Tensor forward(const at::Tensor& z, SpatialOps& ops) const;

 private:
  Conv2d conv_in_;
  VaeMidBlock mid_block_;
  std::vector<UpDecoderBlock2D> up_blocks_;
  GroupNorm conv_norm_out_;
  Conv2d conv_out_;
};

class AutoencoderKL {
 public:
  // Pipelines only decode: they build kDecoder, which marks the encoder's and
  // quant_conv's keys as deliberately unused.
  enum class Parts { kDecoder, kEncoderAndDecoder };

  // `weights` is the view whose keys are the diffusers state_dict keys
  // ("decoder.conv_in.weight", ...), in the dtype the model computes in.
  // Throws WeightError naming the key for a missing tensor or a wrong shape;
  // call weights.expect_all_used() afterwards to reject unexpected keys.
  AutoencoderKL(AutoencoderKLConfig config, const io::Weights& weights,
                Parts parts = Parts::kEncoderAndDecoder);

  const AutoencoderKLConfig& config() const { return config_; }
  at::ScalarType dtype() const { return dtype_; }
  // Where its weights live; inputs are moved there.
  at::Device device() const { return device_; }
  bool has_encoder() const { return encoder_.has_value(); }

  // z: [B, latent_channels, h, w], already unscaled -> image
  // [B, out_channels, h * spatial_scale, w * spatial_scale] in dtype().
  at::Tensor decode(const at::Tensor& z) const;
  // The same with the decoder's spatial operations supplied by the caller
  // (patch-parallel or chunked decoding).
  at::Tensor decode(const at::Tensor& z, SpatialOps& ops) const;

  // x: [B, in_channels, H, W] -> the latent distribution. UsageError when
  // built with Parts::kDecoder.
  EncoderOutput encode(const at::Tensor& x) const;

 private:
  AutoencoderKLConfig config_;
  at::ScalarType dtype_;
  at::Device device_;
  std::optional<VaeEncoder> encoder_;
  std::optional<Conv2d> quant_conv_;
  VaeDecoder decoder_;
  std::optional<Conv2d> post_quant_conv_;
};

}  // namespace xdit::models
