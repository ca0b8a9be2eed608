#include "models/vae_blocks.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <string>
#include <utility>

#include "models/attention.hpp"

namespace xdit::models {
namespace {

Conv2d load_conv3x3(const io::Weights& weights, int64_t in_channels, int64_t out_channels,
                    int64_t stride = 1, int64_t padding = 1) {
  return Conv2d::load(weights, in_channels, out_channels, 3, stride, padding);
}

}  // namespace

void activate_in_place(at::Tensor& x, Activation activation) {
  switch (activation) {
    case Activation::kSilu:
      at::silu_(x);
      return;
    case Activation::kMish:
      at::mish_(x);
      return;
    case Activation::kGelu:
      at::gelu_(x);
      return;
    case Activation::kRelu:
      at::relu_(x);
      return;
  }
}

at::Tensor SpatialOps::conv(const at::Tensor& x, const Conv2d& layer) {
  return layer(x);
}

at::Tensor SpatialOps::group_norm(const at::Tensor& x, const GroupNorm& layer) {
  return layer(x);
}

at::Tensor SpatialOps::attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                 double scale) {
  return models::attention(q, k, v, at::Tensor(), scale);
}

at::Tensor SpatialOps::norm_act_conv(at::Tensor x, const GroupNorm& norm, Activation activation,
                                     const Conv2d& layer, bool x_reusable) {
  at::Tensor h = group_norm(x, norm);
  if (x_reusable)
    x.reset();
  activate_in_place(h, activation);
  return conv(h, layer);
}

ResnetBlock2D::ResnetBlock2D(const io::Weights& weights, int64_t in_channels, int64_t out_channels,
                             int64_t groups, Activation activation)
    : norm1_(GroupNorm::load(weights.sub("norm1"), groups, in_channels, kVaeNormEps)),
      conv1_(load_conv3x3(weights.sub("conv1"), in_channels, out_channels)),
      norm2_(GroupNorm::load(weights.sub("norm2"), groups, out_channels, kVaeNormEps)),
      conv2_(load_conv3x3(weights.sub("conv2"), out_channels, out_channels)),
      activation_(activation) {
  if (in_channels != out_channels) {
    conv_shortcut_ = Conv2d::load(weights.sub("conv_shortcut"), in_channels, out_channels, 1);
  }
}

at::Tensor ResnetBlock2D::forward(const at::Tensor& x, SpatialOps& ops) const {
  at::Tensor h = ops.norm_act_conv(x, norm1_, activation_, conv1_, /*x_reusable=*/false);
  h = ops.norm_act_conv(std::move(h), norm2_, activation_, conv2_, /*x_reusable=*/true);
  // Accumulating into h (ours) saves one full-size feature map per block.
  return h.add_(conv_shortcut_ ? (*conv_shortcut_)(x) : x);
}

namespace {

struct AttentionKeys {
  const char* q;
  const char* k;
  const char* v;
  const char* out;
};

constexpr AttentionKeys kAttentionKeys{"to_q", "to_k", "to_v", "to_out.0"};
// Checkpoints saved with diffusers' former AttentionBlock, which diffusers still
// converts when loading them.
constexpr AttentionKeys kLegacyAttentionKeys{"query", "key", "value", "proj_attn"};

const AttentionKeys& attention_keys(const io::Weights& weights) {
  return weights.contains("query.weight") ? kLegacyAttentionKeys : kAttentionKeys;
}

}  // namespace

MidBlockAttention::MidBlockAttention(const io::Weights& weights, int64_t channels, int64_t groups)
    : group_norm_(GroupNorm::load(weights.sub("group_norm"), groups, channels, kVaeNormEps)),
      to_q_(Linear::load(weights.sub(attention_keys(weights).q), channels, channels)),
      to_k_(Linear::load(weights.sub(attention_keys(weights).k), channels, channels)),
      to_v_(Linear::load(weights.sub(attention_keys(weights).v), channels, channels)),
      to_out_(Linear::load(weights.sub(attention_keys(weights).out), channels, channels)) {}

at::Tensor MidBlockAttention::forward(const at::Tensor& x, SpatialOps& ops) const {
  const int64_t batch = x.size(0);
  const int64_t channels = x.size(1);
  const int64_t height = x.size(2);
  const int64_t width = x.size(3);
  // [B, C, H, W] -> [B, H*W, C], made contiguous once for the three projections.
  const at::Tensor tokens = ops.group_norm(x, group_norm_)
                                .view({batch, channels, height * width})
                                .transpose(1, 2)
                                .contiguous();
  // One head of width C: the head dimension is just unsqueezed.
  at::Tensor out =
      ops.attention(to_q_(tokens).unsqueeze(1), to_k_(tokens).unsqueeze(1),
                    to_v_(tokens).unsqueeze(1), 1.0 / std::sqrt(static_cast<double>(channels)));
  out = to_out_(out.squeeze(1));
  // x first: the sum takes x's contiguous layout, not the transposed view's.
  return x + out.transpose(1, 2).view({batch, channels, height, width});
}

VaeMidBlock::VaeMidBlock(const io::Weights& weights, int64_t channels, int64_t groups,
                         Activation activation, bool add_attention)
    : resnets_(load_resnets(weights.sub("resnets"), 2, channels, channels, groups, activation)) {
  if (add_attention)
    attention_.emplace(weights.sub("attentions.0"), channels, groups);
}

at::Tensor VaeMidBlock::forward(at::Tensor x, SpatialOps& ops) const {
  x = resnets_[0].forward(x, ops);
  if (attention_)
    x = attention_->forward(x, ops);
  return resnets_[1].forward(x, ops);
}

std::vector<ResnetBlock2D> load_resnets(const io::Weights& weights, int64_t count,
                                        int64_t in_channels, int64_t out_channels, int64_t groups,
                                        Activation activation) {
  std::vector<ResnetBlock2D> resnets;
  resnets.reserve(count);
  for (int64_t i = 0; i < count; ++i) {
    resnets.emplace_back(weights.sub(std::to_string(i)), i == 0 ? in_channels : out_channels,
                         out_channels, groups, activation);
  }
  return resnets;
}

DownEncoderBlock2D::DownEncoderBlock2D(const io::Weights& weights, int64_t layers,
                                       int64_t in_channels, int64_t out_channels, int64_t groups,
                                       Activation activation, bool add_downsample)
    : resnets_(load_resnets(weights.sub("resnets"), layers, in_channels, out_channels, groups,
                            activation)) {
  if (add_downsample) {
    downsample_ = load_conv3x3(weights.sub("downsamplers.0.conv"), out_channels, out_channels,
                               /*stride=*/2, /*padding=*/0);
  }
}

at::Tensor DownEncoderBlock2D::forward(at::Tensor x, SpatialOps& ops) const {
  for (const auto& resnet : resnets_)
    x = resnet.forward(x, ops);
  if (!downsample_)
    return x;
  // diffusers pads asymmetrically (right, bottom) so that even sizes halve.
  x = at::constant_pad_nd(x, {0, 1, 0, 1}, 0.0);
  return ops.conv(x, *downsample_);
}

UpDecoderBlock2D::UpDecoderBlock2D(const io::Weights& weights, int64_t layers, int64_t in_channels,
                                   int64_t out_channels, int64_t groups, Activation activation,
                                   bool add_upsample)
    : resnets_(load_resnets(weights.sub("resnets"), layers, in_channels, out_channels, groups,
                            activation)) {
  if (add_upsample) {
    upsample_ = load_conv3x3(weights.sub("upsamplers.0.conv"), out_channels, out_channels);
  }
}

at::Tensor UpDecoderBlock2D::forward(at::Tensor x, SpatialOps& ops) const {
  for (const auto& resnet : resnets_)
    x = resnet.forward(x, ops);
  if (!upsample_)
    return x;
  x = at::upsample_nearest2d(x, {2 * x.size(2), 2 * x.size(3)});
  return ops.conv(x, *upsample_);
}

}  // namespace xdit::models
