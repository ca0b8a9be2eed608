#pragma once
// The blocks that AutoencoderKL's encoder and decoder are assembled from, as
// diffusers v0.30.3 builds them for a VAE: ResnetBlock2D without a time
// embedding, the mid block (resnet, single-head attention, resnet) and the
// down/up encoder/decoder blocks with their resamplers.
//
// Every operation whose value at one pixel depends on other rows of the
// feature map (3x3 convolutions, group-norm statistics, attention over all
// positions) goes through SpatialOps. A patch-parallel decode (rows split
// across ranks: halo exchange for convolutions, statistics shared for group
// norm, keys and values gathered for attention) or a chunked convolution that
// bounds memory on large images overrides those calls and reuses the blocks.

#include <ATen/core/Tensor.h>

#include <optional>
#include <vector>

#include "io/weight_source.hpp"
#include "models/layers.hpp"

namespace xdit::models {

// The eps of every group norm in the VAE (resnets, attention, output stages).
constexpr double kVaeNormEps = 1e-6;

// diffusers' get_activation names (act_fn): "silu"/"swish", "mish", "gelu",
// "relu". The resnets use it; the encoder's and decoder's output stage always
// uses SiLU.
enum class Activation { kSilu, kMish, kGelu, kRelu };

// Applies the activation in place; `x` must be a temporary the caller owns.
void activate_in_place(at::Tensor& x, Activation activation);

// The defaults compute on the whole local feature map. Each call returns a new
// tensor that the caller may modify in place.
class SpatialOps {
 public:
  virtual ~SpatialOps() = default;
  // x: [B, C, H, W]; the convolution's own stride and padding apply.
  virtual at::Tensor conv(const at::Tensor& x, const Conv2d& layer);
  // x: [B, C, H, W].
  virtual at::Tensor group_norm(const at::Tensor& x, const GroupNorm& layer);
  // q, k, v: [B, 1, H*W, C], positions in row-major order.
  virtual at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                               double scale);
  // conv(activation(group_norm(x))), the sequence that starts every resnet
  // half. `x_reusable`: the caller moved x in and needs it no more, so it
  // may be freed early or the result written into its storage (when the
  // convolution keeps the shape). The default runs the three in turn through
  // the hooks above; an override can avoid ever holding the normalised map
  // whole.
  virtual at::Tensor norm_act_conv(at::Tensor x, const GroupNorm& norm, Activation activation,
                                   const Conv2d& layer, bool x_reusable);
};

// ResnetBlock2D with no time embedding, output scale 1 and eps 1e-6; a 1x1
// shortcut convolution when the channel count changes.
class ResnetBlock2D {
 public:
  ResnetBlock2D(const io::Weights& weights, int64_t in_channels, int64_t out_channels,
                int64_t groups, Activation activation);
  at::Tensor forward(const at::Tensor& x, SpatialOps& ops) const;

 private:
  GroupNorm norm1_;
  Conv2d conv1_;
  GroupNorm norm2_;
  Conv2d conv2_;
  std::optional<Conv2d> conv_shortcut_;
  Activation activation_;
};

// diffusers' Attention as UNetMidBlock2D builds it for a VAE: group norm, one
// head as wide as the channels over all H*W positions, residual added.
// Accepts the v0.30.3 names (to_q, to_k, to_v, to_out.0) and the legacy ones
// (query, key, value, proj_attn) of older checkpoints.
class MidBlockAttention {
 public:
  MidBlockAttention(const io::Weights& weights, int64_t channels, int64_t groups);
  at::Tensor forward(const at::Tensor& x, SpatialOps& ops) const;

 private:
  GroupNorm group_norm_;
  Linear to_q_;
  Linear to_k_;
  Linear to_v_;
  Linear to_out_;
};

// The mid, down and up blocks take their input by value: moved in, a large
// feature map is freed as soon as its first resnet is done with it.

// UNetMidBlock2D with one layer: resnet, optional attention, resnet.
class VaeMidBlock {
 public:
  VaeMidBlock(const io::Weights& weights, int64_t channels, int64_t groups, Activation activation,
              bool add_attention);
  at::Tensor forward(at::Tensor x, SpatialOps& ops) const;

 private:
  std::vector<ResnetBlock2D> resnets_;
  std::optional<MidBlockAttention> attention_;
};

// The resnets of a DownEncoderBlock2D or UpDecoderBlock2D: the first maps
// in_channels to out_channels, the others keep out_channels.
std::vector<ResnetBlock2D> load_resnets(const io::Weights& weights, int64_t count,
                                        int64_t in_channels, int64_t out_channels, int64_t groups,
                                        Activation activation);

// DownEncoderBlock2D: resnets, then (except in the last block) a 3x3 stride-2
// convolution after zero-padding one row and column at the bottom and right.
class DownEncoderBlock2D {
 public:
  DownEncoderBlock2D(const io::Weights& weights, int64_t layers, int64_t in_channels,
                     int64_t out_channels, int64_t groups, Activation activation,
                     bool add_downsample);
  at::Tensor forward(at::Tensor x, SpatialOps& ops) const;

 private:
  std::vector<ResnetBlock2D> resnets_;
  std::optional<Conv2d> downsample_;
};

// UpDecoderBlock2D: resnets, then (except in the last block) nearest 2x
// upsampling and a 3x3 convolution.
class UpDecoderBlock2D {
 public:
  UpDecoderBlock2D(const io::Weights& weights, int64_t layers, int64_t in_channels,
                   int64_t out_channels, int64_t groups, Activation activation, bool add_upsample);
  at::Tensor forward(at::Tensor x, SpatialOps& ops) const;

 private:
  std::vector<ResnetBlock2D> resnets_;
  std::optional<Conv2d> upsample_;
};

}  // namespace xdit::models
