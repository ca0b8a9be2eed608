#include "models/clip_text_model.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>
#include <utility>

#include "core/error.hpp"
#include "models/attention.hpp"

namespace xdit::models {

using io::require_positive;

namespace {

constexpr std::pair<const char*, ClipActivation> kActivations[] = {
    {"quick_gelu", ClipActivation::kQuickGelu},
    {"gelu", ClipActivation::kGelu},
    {"gelu_new", ClipActivation::kGeluTanh},
    {"gelu_pytorch_tanh", ClipActivation::kGeluTanh},
};

}  // namespace

ClipTextConfig ClipTextConfig::from_config(const io::Config& config) {
  ClipTextConfig c;
  const std::string model_type = config.get_or<std::string>("model_type", "clip_text_model");
  if (model_type != "clip_text_model") {
    config.fail("model_type", "'" + model_type + "' is not a CLIP text model");
  }
  c.vocab_size = config.get_or<int64_t>("vocab_size", c.vocab_size);
  c.hidden_size = config.get_or<int64_t>("hidden_size", c.hidden_size);
  c.intermediate_size = config.get_or<int64_t>("intermediate_size", c.intermediate_size);
  c.projection_dim = config.get_or<int64_t>("projection_dim", c.projection_dim);
  c.num_hidden_layers = config.get_or<int64_t>("num_hidden_layers", c.num_hidden_layers);
  c.num_attention_heads = config.get_or<int64_t>("num_attention_heads", c.num_attention_heads);
  c.max_position_embeddings =
      config.get_or<int64_t>("max_position_embeddings", c.max_position_embeddings);
  c.layer_norm_eps = config.get_or<double>("layer_norm_eps", c.layer_norm_eps);
  c.hidden_act = config.get_or<std::string>("hidden_act", c.hidden_act);
  c.eos_token_id = config.get_or<int64_t>("eos_token_id", c.eos_token_id);
  c.validate(config.source());
  return c;
}

void ClipTextConfig::validate(const std::string& source) const {
  require_positive(vocab_size, "vocab_size", source);
  require_positive(hidden_size, "hidden_size", source);
  require_positive(intermediate_size, "intermediate_size", source);
  require_positive(projection_dim, "projection_dim", source);
  require_positive(num_hidden_layers, "num_hidden_layers", source);
  require_positive(num_attention_heads, "num_attention_heads", source);
  require_positive(max_position_embeddings, "max_position_embeddings", source);
  if (hidden_size % num_attention_heads != 0) {
    throw ConfigError(source, "num_attention_heads",
                      std::to_string(num_attention_heads) + " heads do not divide hidden_size " +
                          std::to_string(hidden_size));
  }
  if (!(layer_norm_eps > 0))
    throw ConfigError(source, "layer_norm_eps", "must be positive");
  activation(source);
}

ClipActivation ClipTextConfig::activation(const std::string& source) const {
  for (const auto& [name, value] : kActivations) {
    if (hidden_act == name)
      return value;
  }
  throw ConfigError(source, "hidden_act",
                    "'" + hidden_act +
                        "' is not an activation of CLIP text models (quick_gelu, "
                        "gelu, gelu_new or gelu_pytorch_tanh)");
}

ClipTextModel::ClipTextModel(const ClipTextConfig& config, const io::Weights& weights,
                             bool with_projection)
    : config_(config),
      dtype_(weights.dtype()),
      device_(weights.device()),
      activation_(config.activation("CLIPTextConfig")) {
  config_.validate("CLIPTextConfig");
  const int64_t hidden = config_.hidden_size;
  const double eps = config_.layer_norm_eps;
  const io::Weights text = weights.sub("text_model");
  const io::Weights embeddings = text.sub("embeddings");
  token_embedding_ = embeddings.get("token_embedding.weight", {config_.vocab_size, hidden});
  position_embedding_ =
      embeddings.get("position_embedding.weight", {config_.max_position_embeddings, hidden});
  // transformers keeps the positions 0..max-1 as a buffer; newer saves drop it.
  if (embeddings.contains("position_ids"))
    embeddings.skip("position_ids");
  const io::Weights encoder = text.sub("encoder");
  for (int64_t i = 0; i < config_.num_hidden_layers; ++i) {
    const io::Weights w = encoder.sub("layers." + std::to_string(i));
    const io::Weights attention = w.sub("self_attn");
    Layer layer;
    layer.norm1 = LayerNorm::load(w.sub("layer_norm1"), hidden, eps);
    layer.q = Linear::load(attention.sub("q_proj"), hidden, hidden);
    layer.k = Linear::load(attention.sub("k_proj"), hidden, hidden);
    layer.v = Linear::load(attention.sub("v_proj"), hidden, hidden);
    layer.out = Linear::load(attention.sub("out_proj"), hidden, hidden);
    layer.norm2 = LayerNorm::load(w.sub("layer_norm2"), hidden, eps);
    layer.fc1 = Linear::load(w.sub("mlp.fc1"), hidden, config_.intermediate_size);
    layer.fc2 = Linear::load(w.sub("mlp.fc2"), config_.intermediate_size, hidden);
    layers_.push_back(std::move(layer));
  }
  final_layer_norm_ = LayerNorm::load(text.sub("final_layer_norm"), hidden, eps);
  if (with_projection) {
    text_projection_ = Linear::load(weights.sub("text_projection"), hidden, config_.projection_dim,
                                    /*with_bias=*/false);
  }
}

at::Tensor ClipTextModel::activation(const at::Tensor& x) const {
  switch (activation_) {
    case ClipActivation::kQuickGelu:
      return x * at::sigmoid(1.702 * x);
    case ClipActivation::kGelu:
      return at::gelu(x);
    case ClipActivation::kGeluTanh:
      return at::gelu(x, "tanh");
  }
  return x;
}

at::Tensor ClipTextModel::self_attention(const Layer& layer, const at::Tensor& x,
                                         const at::Tensor& causal) const {
  const int64_t batch = x.size(0);
  const int64_t length = x.size(1);
  const int64_t heads = config_.num_attention_heads;
  const int64_t head_dim = config_.hidden_size / heads;
  const auto split = [&](const at::Tensor& t) {
    return t.view({batch, length, heads, head_dim}).transpose(1, 2);
  };
  const at::Tensor out = attention(split(layer.q(x)), split(layer.k(x)), split(layer.v(x)), causal,
                                   1.0 / std::sqrt(static_cast<double>(head_dim)));
  return layer.out(out.transpose(1, 2).reshape({batch, length, config_.hidden_size}));
}

at::Tensor ClipTextModel::eos_positions(const at::Tensor& ids) const {
  if (config_.pools_at_largest_id())
    return ids.argmax(-1);
  // The first EOS of each row (prompts padded with EOS hold several); a row
  // without one pools at position 0, as argmax over all-false gives.
  return (ids == config_.eos_token_id).to(at::kInt).argmax(-1);
}

ClipTextOutput ClipTextModel::forward(const at::Tensor& input_ids) const {
  const at::Tensor ids = checked_token_ids(input_ids, config_.vocab_size, device_, "ClipTextModel");
  const int64_t batch = ids.size(0);
  const int64_t length = ids.size(1);
  if (length > config_.max_position_embeddings) {
    throw UsageError("ClipTextModel: " + std::to_string(length) + " tokens, more than its " +
                     std::to_string(config_.max_position_embeddings) + " positions");
  }
  // A key after its query is masked.
  const at::Tensor causal = at::full({length, length}, -std::numeric_limits<double>::infinity(),
                                     at::TensorOptions().dtype(dtype_).device(device_))
                                .triu(1)
                                .view({1, 1, length, length});

  at::Tensor hidden =
      at::embedding(token_embedding_, ids) + position_embedding_.narrow(0, 0, length).unsqueeze(0);
  ClipTextOutput out;
  for (size_t i = 0; i < layers_.size(); ++i) {
    if (i + 1 == layers_.size())
      out.penultimate = hidden;
    const Layer& layer = layers_[i];
    hidden = hidden + self_attention(layer, layer.norm1(hidden), causal);
    hidden = hidden + layer.fc2(activation(layer.fc1(layer.norm2(hidden))));
  }
  // With one layer, the second-to-last hidden state is the embeddings' output.
  out.last_hidden_state = final_layer_norm_(hidden);
  out.pooled = out.last_hidden_state.index({at::arange(batch, ids.options()), eos_positions(ids)});
  if (text_projection_.weight.defined())
    out.text_embeds = text_projection_(out.pooled);
  return out;
}

}  // namespace xdit::models
