#include "models/t5_encoder.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>
#include <utility>

#include "core/error.hpp"
#include "models/attention.hpp"

namespace xdit::models {

using io::require_positive;

namespace {

constexpr std::pair<const char*, T5Activation> kActivations[] = {
    {"relu", T5Activation::kRelu},         {"gelu", T5Activation::kGelu},
    {"gelu_new", T5Activation::kGeluTanh}, {"gelu_pytorch_tanh", T5Activation::kGeluTanh},
    {"silu", T5Activation::kSilu},         {"swish", T5Activation::kSilu},
};

// Splits "gated-ACT" / "ACT" the way transformers' T5Config does.
void derive_activation(T5Config& config, const io::Config& source) {
  const std::string& proj = config.feed_forward_proj;
  const auto dash = proj.find('-');
  const bool two_parts = dash != std::string::npos;
  if ((two_parts && proj.substr(0, dash) != "gated") ||
      (two_parts && proj.find('-', dash + 1) != std::string::npos)) {
    source.fail("feed_forward_proj",
                "'" + proj + "' is not of the form 'gated-{ACT_FN}' or '{ACT_FN}'");
  }
  config.dense_act_fn = two_parts ? proj.substr(dash + 1) : proj;
  config.is_gated_act = proj.substr(0, dash) == "gated";
  // transformers keeps this alias for old checkpoints: T5 v1.1 means tanh GELU.
  if (proj == "gated-gelu")
    config.dense_act_fn = "gelu_new";
}

at::Scalar lowest_value(at::ScalarType dtype) {
  at::Scalar lowest;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, dtype, "t5_lowest",
                                  [&] { lowest = std::numeric_limits<scalar_t>::lowest(); });
  return lowest;
}

Linear load_projection(const io::Weights& weights, int64_t in, int64_t out) {
  return Linear::load(weights, in, out, /*with_bias=*/false);
}

// T5EncoderModel ties encoder.embed_tokens to shared: its state_dict holds the
// tensor under both names, while a deduplicating save may keep only one.
at::Tensor load_token_embedding(const io::Weights& weights, const std::vector<int64_t>& shape) {
  constexpr const char* kShared = "shared.weight";
  constexpr const char* kTied = "encoder.embed_tokens.weight";
  const bool has_shared = weights.contains(kShared);
  const bool has_tied = weights.contains(kTied);
  // With neither, asking for shared.weight reports it missing (or lets a
  // synthesizing source make it).
  at::Tensor embedding = weights.get(has_tied && !has_shared ? kTied : kShared, shape);
  if (has_shared && has_tied) {
    // Only the shape of the copy is checked: loading it would double the
    // largest tensor of the model for nothing.
    const std::string copy = weights.prefix() + kTied;
    if (weights.source().shape(copy) != shape) {
      throw WeightError(weights.source().location(copy) + ": tensor '" + copy + "' is tied to '" +
                        weights.prefix() + kShared + "' but has another shape");
    }
    weights.skip(kTied);
  }
  return embedding;
}

}  // namespace

T5Config T5Config::from_config(const io::Config& config) {
  T5Config c;
  c.vocab_size = config.get_or<int64_t>("vocab_size", c.vocab_size);
  c.d_model = config.get_or<int64_t>("d_model", c.d_model);
  c.d_kv = config.get_or<int64_t>("d_kv", c.d_kv);
  c.d_ff = config.get_or<int64_t>("d_ff", c.d_ff);
  c.num_layers = config.get_or<int64_t>("num_layers", c.num_layers);
  c.num_heads = config.get_or<int64_t>("num_heads", c.num_heads);
  c.relative_attention_num_buckets =
      config.get_or<int64_t>("relative_attention_num_buckets", c.relative_attention_num_buckets);
  c.relative_attention_max_distance =
      config.get_or<int64_t>("relative_attention_max_distance", c.relative_attention_max_distance);
  c.layer_norm_epsilon = config.get_or<double>("layer_norm_epsilon", c.layer_norm_epsilon);
  c.feed_forward_proj = config.get_or<std::string>("feed_forward_proj", c.feed_forward_proj);
  derive_activation(c, config);
  // PretrainedConfig sets stored keys after T5Config derived them, so a
  // config.json that holds them wins over the derivation.
  c.dense_act_fn = config.get_or<std::string>("dense_act_fn", c.dense_act_fn);
  c.is_gated_act = config.get_or<bool>("is_gated_act", c.is_gated_act);
  const std::string model_type = config.get_or<std::string>("model_type", "t5");
  if (model_type != "t5" && model_type != "mt5") {
    config.fail("model_type", "'" + model_type + "' is not a T5 encoder (expected t5 or mt5)");
  }
  c.validate(config.source());
  return c;
}

void T5Config::validate(const std::string& source) const {
  require_positive(vocab_size, "vocab_size", source);
  require_positive(d_model, "d_model", source);
  require_positive(d_kv, "d_kv", source);
  require_positive(d_ff, "d_ff", source);
  require_positive(num_layers, "num_layers", source);
  require_positive(num_heads, "num_heads", source);
  // Bidirectional buckets give each direction num_buckets/2, half of them
  // exact; the logarithmic rest spans max_exact..max_distance.
  if (relative_attention_num_buckets < 4) {
    throw ConfigError(source, "relative_attention_num_buckets",
                      "must be at least 4, got " + std::to_string(relative_attention_num_buckets));
  }
  if (relative_attention_max_distance <= relative_attention_num_buckets / 4) {
    throw ConfigError(source, "relative_attention_max_distance",
                      "must exceed relative_attention_num_buckets / 4 (" +
                          std::to_string(relative_attention_num_buckets / 4) + "), got " +
                          std::to_string(relative_attention_max_distance));
  }
  if (!(layer_norm_epsilon > 0.0)) {
    throw ConfigError(source, "layer_norm_epsilon", "must be positive");
  }
  activation(source);
}

T5Activation T5Config::activation(const std::string& source) const {
  for (const auto& [name, kind] : kActivations) {
    if (dense_act_fn == name)
      return kind;
  }
  std::string known;
  for (const auto& [name, kind] : kActivations)
    known += (known.empty() ? "" : ", ") + std::string(name);
  throw ConfigError(source, "dense_act_fn",
                    "'" + dense_act_fn + "' (from feed_forward_proj '" + feed_forward_proj +
                        "') is not supported; supported: " + known);
}

T5LayerNorm T5LayerNorm::load(const io::Weights& weights, int64_t dim, double eps) {
  return {weights.get("weight", {dim}), eps};
}

at::Tensor T5LayerNorm::operator()(const at::Tensor& x) const {
  const at::Tensor variance = x.to(at::kFloat).pow(2).mean(-1, /*keepdim=*/true);
  // x * rsqrt promotes to float32; the weight's dtype is applied only after.
  const at::Tensor normed = x * at::rsqrt(variance + eps);
  return weight * normed.to(weight.scalar_type());
}

at::Tensor t5_relative_position_bucket(const at::Tensor& relative_position, int64_t num_buckets,
                                       int64_t max_distance) {
  const int64_t half = num_buckets / 2;  // keys after the query get the upper half
  const int64_t max_exact = half / 2;
  at::Tensor buckets = (relative_position > 0).to(at::kLong) * half;
  const at::Tensor distance = relative_position.abs();
  // The same float32 ops as transformers, so that bucket edges agree exactly.
  at::Tensor large = (at::log(distance.to(at::kFloat) / max_exact) /
                      std::log(static_cast<double>(max_distance) / max_exact) * (half - max_exact))
                         .to(at::kLong) +
                     max_exact;
  large = large.clamp_max(half - 1);
  return buckets + at::where(distance < max_exact, distance, large);
}

T5Encoder::T5Encoder(const T5Config& config, const io::Weights& weights)
    : config_(config),
      dtype_(weights.dtype()),
      device_(weights.device()),
      activation_(config.activation("T5Config")) {
  config_.validate("T5Config");
  const int64_t d_model = config_.d_model;
  const int64_t inner = config_.num_heads * config_.d_kv;
  const double eps = config_.layer_norm_epsilon;
  embed_tokens_ = load_token_embedding(weights, {config_.vocab_size, d_model});

  const io::Weights encoder = weights.sub("encoder");
  for (int64_t i = 0; i < config_.num_layers; ++i) {
    const io::Weights block_weights = encoder.sub("block." + std::to_string(i));
    const io::Weights attention = block_weights.sub("layer.0");
    const io::Weights self_attention = attention.sub("SelfAttention");
    const io::Weights feed_forward = block_weights.sub("layer.1");
    const io::Weights dense = feed_forward.sub("DenseReluDense");
    if (i == 0) {
      relative_attention_bias_ =
          self_attention.get("relative_attention_bias.weight",
                             {config_.relative_attention_num_buckets, config_.num_heads});
    }
    Block block;
    block.attention_norm = T5LayerNorm::load(attention.sub("layer_norm"), d_model, eps);
    block.q = load_projection(self_attention.sub("q"), d_model, inner);
    block.k = load_projection(self_attention.sub("k"), d_model, inner);
    block.v = load_projection(self_attention.sub("v"), d_model, inner);
    block.o = load_projection(self_attention.sub("o"), inner, d_model);
    block.feed_forward_norm = T5LayerNorm::load(feed_forward.sub("layer_norm"), d_model, eps);
    if (config_.is_gated_act) {
      block.wi = load_projection(dense.sub("wi_0"), d_model, config_.d_ff);
      block.wi_linear = load_projection(dense.sub("wi_1"), d_model, config_.d_ff);
    } else {
      block.wi = load_projection(dense.sub("wi"), d_model, config_.d_ff);
    }
    block.wo = load_projection(dense.sub("wo"), config_.d_ff, d_model);
    blocks_.push_back(std::move(block));
  }
  final_layer_norm_ = T5LayerNorm::load(encoder.sub("final_layer_norm"), d_model, eps);
  // T5EncoderModel ignores a decoder in the checkpoint; so does this encoder.
  weights.skip("decoder");
}

at::Tensor T5Encoder::position_bias(int64_t length) const {
  const at::Tensor positions =
      at::arange(length, relative_attention_bias_.options().dtype(at::kLong));
  // [query, key] = key position - query position.
  const at::Tensor relative = positions.unsqueeze(0) - positions.unsqueeze(1);
  const at::Tensor buckets = t5_relative_position_bucket(
      relative, config_.relative_attention_num_buckets, config_.relative_attention_max_distance);
  return at::embedding(relative_attention_bias_, buckets).permute({2, 0, 1}).unsqueeze(0);
}

at::Tensor T5Encoder::activation(const at::Tensor& x) const {
  switch (activation_) {
    case T5Activation::kRelu:
      return at::relu(x);
    case T5Activation::kGelu:
      return at::gelu(x);
    case T5Activation::kGeluTanh:
      return at::gelu(x, "tanh");
    case T5Activation::kSilu:
      return at::silu(x);
  }
  return x;
}

at::Tensor T5Encoder::self_attention(const Block& block, const at::Tensor& x,
                                     const at::Tensor& bias) const {
  const int64_t batch = x.size(0);
  const int64_t length = x.size(1);
  const auto heads = [&](const at::Tensor& t) {
    return t.view({batch, length, config_.num_heads, config_.d_kv}).transpose(1, 2);
  };
  // T5 folds the 1/sqrt(d_kv) scaling into its initialisation: scale 1.
  const at::Tensor out =
      attention(heads(block.q(x)), heads(block.k(x)), heads(block.v(x)), bias, /*scale=*/1.0);
  return block.o(out.transpose(1, 2).reshape({batch, length, config_.num_heads * config_.d_kv}));
}

at::Tensor T5Encoder::feed_forward(const Block& block, const at::Tensor& x) const {
  at::Tensor hidden = activation(block.wi(x));
  if (config_.is_gated_act)
    hidden = hidden * block.wi_linear(x);
  return block.wo(hidden);
}

at::Tensor T5Encoder::forward(const at::Tensor& input_ids, const at::Tensor& attention_mask) const {
  const at::Tensor ids = checked_token_ids(input_ids, config_.vocab_size, device_, "T5Encoder");
  const int64_t batch = ids.size(0);
  const int64_t length = ids.size(1);

  at::Tensor bias = position_bias(length);
  if (attention_mask.defined()) {
    if (attention_mask.sizes() != ids.sizes()) {
      throw UsageError("T5Encoder: attention_mask has shape " + c10::str(attention_mask.sizes()) +
                       ", input_ids " + c10::str(ids.sizes()));
    }
    // Masked keys get the dtype's lowest value, not -inf, as transformers
    // does: a row with every key masked still averages instead of NaN.
    const at::Tensor blocked = (1.0 - attention_mask.to(device_, dtype_))
                                   .mul(lowest_value(dtype_))
                                   .view({batch, 1, 1, length});
    bias = bias + blocked;
  }

  at::Tensor hidden = at::embedding(embed_tokens_, ids);
  for (const Block& block : blocks_) {
    hidden = hidden + self_attention(block, block.attention_norm(hidden), bias);
    hidden = hidden + feed_forward(block, block.feed_forward_norm(hidden));
  }
  return final_layer_norm_(hidden);
}

}  // namespace xdit::models
