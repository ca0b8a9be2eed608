#include "bench/op_breakdown.hpp"

#include <ATen/record_function.h>

#include <chrono>
#include <memory>
#include <numeric>
#include <string>

#include "core/error.hpp"

namespace xdit::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Names {
  std::string_view key;
  std::string_view label;
};

constexpr std::array<Names, kOpKinds> kNames = {{
    {"linear", "linear layers"},
    {"attention", "attention kernel"},
    {"norm_modulation", "norms and modulation"},
    {"activation", "activations"},
    {"copy_layout", "copies and layout changes"},
    {"other", "other"},
}};

bool one_of(std::string_view op, std::initializer_list<std::string_view> names) {
  for (std::string_view name : names) {
    if (op == name)
      return true;
  }
  return false;
}

// The breakdown of this thread and how deep in nested ops it is.
thread_local OpBreakdown* active = nullptr;
thread_local int depth = 0;

struct OpStart final : at::ObserverContext {
  Clock::time_point start = Clock::now();
};

std::unique_ptr<at::ObserverContext> on_start(const at::RecordFunction&) {
  if (!active || depth++ > 0)
    return nullptr;
  return std::make_unique<OpStart>();
}

void on_end(const at::RecordFunction& fn, at::ObserverContext* context) {
  if (!active)
    return;
  --depth;
  if (auto* started = static_cast<OpStart*>(context)) {
    const std::chrono::duration<double> elapsed = Clock::now() - started->start;
    active->add(classify_op(fn.name()), elapsed.count());
  }
}

}  // namespace

std::string_view op_kind_key(OpKind kind) {
  return kNames[static_cast<size_t>(kind)].key;
}

std::string_view op_kind_label(OpKind kind) {
  return kNames[static_cast<size_t>(kind)].label;
}

OpKind classify_op(std::string_view name) {
  constexpr std::string_view kAten = "aten::";
  if (name == "xdit::attention")
    return OpKind::kAttention;
  if (name.substr(0, kAten.size()) != kAten)
    return OpKind::kOther;
  const std::string_view op = name.substr(kAten.size());
  if (one_of(op, {"linear", "addmm", "mm", "matmul", "bmm", "baddbmm", "addmm_", "mm_out"}))
    return OpKind::kLinear;
  if (one_of(op, {"layer_norm", "native_layer_norm", "group_norm", "native_group_norm", "rms_norm",
                  "mul", "mul_", "add", "add_", "sub", "sub_", "div", "div_", "addcmul", "addcmul_",
                  "rsqrt", "mean", "pow", "sum"}))
    return OpKind::kNormModulation;
  if (one_of(op, {"gelu", "gelu_", "silu", "silu_", "sigmoid", "tanh", "relu", "relu_", "softmax",
                  "_softmax", "exp"}))
    return OpKind::kActivation;
  if (one_of(op, {"copy_",     "contiguous", "clone",          "cat",     "stack",      "reshape",
                  "view",      "transpose",  "permute",        "narrow",  "slice",      "select",
                  "chunk",     "split",      "unsqueeze",      "squeeze", "expand",     "to",
                  "_to_copy",  "empty",      "empty_like",     "zeros",   "as_strided", "flatten",
                  "unflatten", "pad",        "constant_pad_nd"}))
    return OpKind::kCopyLayout;
  return OpKind::kOther;
}

OpBreakdown::OpBreakdown() {
  if (active)
    throw UsageError("OpBreakdown: this thread already has one");
  active = this;
  depth = 0;
  handle_ = at::addThreadLocalCallback(
      at::RecordFunctionCallback(on_start, on_end)
          .scopes({at::RecordScope::FUNCTION, at::RecordScope::USER_SCOPE}));
}

OpBreakdown::~OpBreakdown() {
  at::removeCallback(handle_);
  active = nullptr;
}

double OpBreakdown::total_seconds() const {
  return std::accumulate(seconds_.begin(), seconds_.end(), 0.0);
}

void add_breakdown(Record& record, const OpBreakdown& breakdown, double step_seconds) {
  for (size_t i = 0; i < kOpKinds; ++i) {
    const auto kind = static_cast<OpKind>(i);
    const std::string key(op_kind_key(kind));
    const double seconds = breakdown.seconds()[i];
    record.add(key + "_share", "  " + std::string(op_kind_label(kind)), seconds / step_seconds);
    record.add(key + "_seconds", "  " + std::string(op_kind_label(kind)) + " (time)", seconds, "s");
  }
  record.add("untracked_share", "  outside any ATen op",
             1.0 - breakdown.total_seconds() / step_seconds);
}

}  // namespace xdit::bench
