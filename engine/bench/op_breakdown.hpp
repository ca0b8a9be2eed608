#pragma once
// Where the time of a step goes, by kind of operation: linear layers,
// attention, norms and modulation, activations, copies and layout changes,
// the rest. Built on LibTorch's RecordFunction callbacks, so every ATen op is
// seen without the models knowing; only outermost calls are timed (an
// at::linear counts once, not again for the addmm inside it), and the
// project's attention kernel announces itself as "xdit::attention".

#include <array>
#include <cstddef>
#include <string_view>

#include "bench/record.hpp"

namespace xdit::bench {

enum class OpKind : size_t {
  kLinear,
  kAttention,
  kNormModulation,
  kActivation,
  kCopyLayout,
  kOther,
};
inline constexpr size_t kOpKinds = 6;

// A stable key ("linear", "attention", "norm_modulation", "activation",
// "copy_layout", "other") and a label for people.
std::string_view op_kind_key(OpKind kind);
std::string_view op_kind_label(OpKind kind);

// The kind of an op by its RecordFunction name ("aten::addmm", ...).
OpKind classify_op(std::string_view name);

// Times the outermost ops that this thread runs while it is alive. Ops that
// intra-op worker threads run belong to the calling op already.
class OpBreakdown {
 public:
  OpBreakdown();
  ~OpBreakdown();
  OpBreakdown(const OpBreakdown&) = delete;
  OpBreakdown& operator=(const OpBreakdown&) = delete;

  const std::array<double, kOpKinds>& seconds() const { return seconds_; }
  double total_seconds() const;
  void reset() { seconds_.fill(0); }

  // Called by the callbacks.
  void add(OpKind kind, double seconds) { seconds_[static_cast<size_t>(kind)] += seconds; }

 private:
  std::array<double, kOpKinds> seconds_{};
  uint64_t handle_;
};

// Adds "<key>_seconds" and "<key>_share" (of step_seconds) for every kind.
void add_breakdown(Record& record, const OpBreakdown& breakdown, double step_seconds);

}  // namespace xdit::bench
