#include "train/adam_w.hpp"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <cmath>

#include "core/error.hpp"

namespace xdit::train {

AdamW::AdamW(io::NamedTensors parameters, AdamWOptions options) : options_(options) {
  for (auto& [key, parameter] : parameters) {
    slots_.push_back({key, parameter, at::zeros_like(parameter, at::MemoryFormat::Contiguous),
                      at::zeros_like(parameter, at::MemoryFormat::Contiguous)});
  }
}

void AdamW::zero_grad() {
  for (Slot& slot : slots_) {
    if (slot.parameter.grad().defined())
      slot.parameter.mutable_grad().zero_();
  }
}

double AdamW::step(double lr) {
  const c10::NoGradGuard no_grad;
  at::Tensor squares = at::zeros({}, slots_.front().parameter.options().requires_grad(false));
  for (const Slot& slot : slots_) {
    if (slot.parameter.grad().defined())
      squares += slot.parameter.grad().pow(2).sum();
  }
  const double norm = std::sqrt(squares.item<double>());
  const double clip = norm > options_.max_grad_norm ? options_.max_grad_norm / norm : 1.0;
  ++steps_;
  const double correction1 = 1.0 - std::pow(options_.beta1, static_cast<double>(steps_));
  const double correction2 = 1.0 - std::pow(options_.beta2, static_cast<double>(steps_));
  for (Slot& slot : slots_) {
    if (!slot.parameter.grad().defined())
      continue;
    const at::Tensor grad = slot.parameter.grad() * clip;
    slot.m.mul_(options_.beta1).add_(grad, 1.0 - options_.beta1);
    slot.v.mul_(options_.beta2).addcmul_(grad, grad, 1.0 - options_.beta2);
    if (options_.weight_decay > 0)
      slot.parameter.mul_(1.0 - lr * options_.weight_decay);
    const at::Tensor denominator = (slot.v / correction2).sqrt_().add_(options_.eps);
    slot.parameter.addcdiv_(slot.m, denominator, -lr / correction1);
  }
  return norm;
}

io::NamedTensors AdamW::state() const {
  io::NamedTensors state;
  for (const Slot& slot : slots_) {
    state.emplace_back("adam.m." + slot.key, slot.m.to(at::kCPU).contiguous());
    state.emplace_back("adam.v." + slot.key, slot.v.to(at::kCPU).contiguous());
  }
  return state;
}

void AdamW::load_state(const io::WeightSource& source, int64_t steps) {
  const c10::NoGradGuard no_grad;
  for (Slot& slot : slots_) {
    for (auto [prefix, moment] : {std::pair{"adam.m.", &slot.m}, std::pair{"adam.v.", &slot.v}}) {
      const std::string key = prefix + slot.key;
      if (!source.contains(key))
        throw WeightError(source.describe() + ": no optimizer moment '" + key + "'");
      const at::Tensor stored = source.load(key);
      if (stored.sizes() != moment->sizes()) {
        throw WeightError(source.describe() + ": optimizer moment '" + key +
                          "' does not have its parameter's shape");
      }
      moment->copy_(stored);
    }
  }
  steps_ = steps;
}

}  // namespace xdit::train
