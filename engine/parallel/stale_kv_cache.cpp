#include "parallel/stale_kv_cache.hpp"

#include <ATen/ATen.h>
#include <c10/util/StringUtil.h>

#include <limits>
#include <string>

#include "core/error.hpp"

namespace xdit::parallel {

StaleKvCache::Layer& StaleKvCache::layer_at(int64_t layer) {
  if (layer < 0)
    throw UsageError("stale K/V cache: negative layer " + std::to_string(layer));
  if (static_cast<size_t>(layer) >= layers_.size())
    layers_.resize(static_cast<size_t>(layer) + 1);
  return layers_[static_cast<size_t>(layer)];
}

StaleKv StaleKvCache::refresh(int64_t layer, int64_t first, int64_t total, const at::Tensor& k,
                              const at::Tensor& v) {
  if (k.dim() != 4 || v.dim() != 4) {
    throw UsageError("stale K/V cache: keys " + c10::str(k.sizes()) + " and values " +
                     c10::str(v.sizes()) + " are not [B, H, tokens, D]");
  }
  Layer& entry = layer_at(layer);
  if (!entry.keys.defined()) {
    entry.keys = at::zeros({k.size(0), k.size(1), total, k.size(3)}, k.options());
    entry.values = at::zeros({v.size(0), v.size(1), total, v.size(3)}, v.options());
    entry.unwritten = at::ones({total}, at::TensorOptions().dtype(at::kBool));
    entry.complete = false;
  }
  const int64_t count = k.size(2);
  const bool fits = first >= 0 && total == entry.keys.size(2) && first + count <= total &&
                    k.size(0) == entry.keys.size(0) && k.size(1) == entry.keys.size(1) &&
                    k.size(3) == entry.keys.size(3) && v.size(2) == count &&
                    v.size(3) == entry.values.size(3);
  if (!fits) {
    throw UsageError("stale K/V cache of layer " + std::to_string(layer) + " holds keys " +
                     c10::str(entry.keys.sizes()) + "; cannot write keys " + c10::str(k.sizes()) +
                     " and values " + c10::str(v.sizes()) + " at token " + std::to_string(first) +
                     " of " + std::to_string(total));
  }
  entry.keys.narrow(2, first, count).copy_(k);
  entry.values.narrow(2, first, count).copy_(v);
  StaleKv kv{entry.keys, entry.values, at::Tensor()};
  if (!entry.complete) {
    entry.unwritten.narrow(0, first, count).fill_(false);
    entry.complete = !entry.unwritten.any().item<bool>();
    if (!entry.complete) {
      kv.bias = at::zeros({1, 1, 1, total}, at::kFloat)
                    .masked_fill_(entry.unwritten.view({1, 1, 1, total}),
                                  -std::numeric_limits<float>::infinity());
    }
  }
  return kv;
}

void StaleKvCache::assign(int64_t layer, at::Tensor keys, at::Tensor values) {
  Layer& entry = layer_at(layer);
  entry.keys = std::move(keys);
  entry.values = std::move(values);
  entry.unwritten = at::zeros({entry.keys.size(2)}, at::TensorOptions().dtype(at::kBool));
  entry.complete = true;
}

int64_t StaleKvCache::bytes() const {
  int64_t total = 0;
  for (const Layer& entry : layers_) {
    if (entry.keys.defined())
      total += entry.keys.nbytes() + entry.values.nbytes();
  }
  return total;
}

models::JointOutput StaleKvAttention::attend(int64_t layer, const models::Qkv& image,
                                             const models::Qkv& text, models::JointOrder order,
                                             double scale) {
  const StaleKv kv = cache_.refresh(layer, first_, total_, image.k, image.v);
  return models::attend_joined(image.q, kv.keys, kv.values, kv.bias, text, order, scale);
}

}  // namespace xdit::parallel
