#include "models/attention.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <spdlog/spdlog.h>

#include <limits>
#include <mutex>
#include <optional>
#include <string>

#include "core/error.hpp"
#include "core/torch_compat.hpp"
#include "models/attention_kernel.hpp"

namespace xdit::models {
namespace {

std::string shape_of(const at::Tensor& t) {
  std::string text = "[";
  for (int64_t d = 0; d < t.dim(); ++d)
    text += (d ? ", " : "") + std::to_string(t.size(d));
  return text + "]";
}

void check_inputs(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                  const at::Tensor& bias) {
  const auto fail = [&](const std::string& what) {
    throw UsageError("attention: " + what + " (q " + shape_of(q) + ", k " + shape_of(k) + ", v " +
                     shape_of(v) + (bias.defined() ? ", bias " + shape_of(bias) : "") + ")");
  };
  if (q.dim() != 4 || k.dim() != 4 || v.dim() != 4)
    fail("q, k and v must be [B, H, L, D]");
  if (k.size(0) != q.size(0) || v.size(0) != q.size(0) || k.size(1) != q.size(1) ||
      v.size(1) != q.size(1)) {
    fail("batch and head counts differ");
  }
  if (k.size(3) != q.size(3))
    fail("q and k head dims differ");
  if (v.size(2) != k.size(2))
    fail("k and v token counts differ");
  const auto dtype = q.scalar_type();
  if (k.scalar_type() != dtype || v.scalar_type() != dtype)
    fail("q, k and v dtypes differ");
  if (dtype != at::kFloat && dtype != at::kBFloat16 && dtype != at::kHalf && dtype != at::kDouble) {
    fail("only float32, bfloat16, float16 and float64 are supported");
  }
  if (k.device() != q.device() || v.device() != q.device() ||
      (bias.defined() && bias.device() != q.device())) {
    fail("tensors on different devices");
  }
  if (!bias.defined())
    return;
  const int64_t full[4] = {q.size(0), q.size(1), q.size(2), k.size(2)};
  if (bias.dim() > 4)
    fail("bias has more than 4 dimensions");
  for (int64_t d = 1; d <= bias.dim(); ++d) {
    const int64_t size = bias.size(-d);
    if (size != 1 && size != full[4 - d])
      fail("bias does not broadcast to [B, H, Lq, Lk]");
  }
}

// float32 with unit column stride, as the kernel reads rows. Lower
// precisions are attended in float32: their scores and exponentials would
// lose most of their digits, and the copies are linear in tokens.
at::Tensor kernel_input(const at::Tensor& t) {
  at::Tensor f = t.to(at::kFloat);
  return f.size(-1) > 1 && f.stride(-1) != 1 ? f.contiguous() : f;
}

// float32 [B, H, Lq, dv] laid out like q: when q is a head view of a [B, L,
// H, D] projection, so is the output, and merging its heads back is free.
at::Tensor output_like(const at::Tensor& q, int64_t dv) {
  const auto options = q.options().dtype(at::kFloat);
  if (q.stride(1) < q.stride(2)) {
    return at::empty({q.size(0), q.size(2), q.size(1), dv}, options).transpose(1, 2);
  }
  return at::empty({q.size(0), q.size(1), q.size(2), dv}, options);
}

// The plain formula over the whole score matrix, with the kernel's
// conventions for rows that see no key (zero output, the same very negative
// lse), so that results compare and merge alike. In float64 it serves
// reference runs, against which tests measure float32's rounding
// (docs/testing.md); on a GPU, in float32, attention whose log-sum-exp is
// merged where LibTorch's memory-efficient kernel refuses the inputs.
PartialAttention attention_whole_matrix(const at::Tensor& q_in, const at::Tensor& k_in,
                                        const at::Tensor& v_in, const at::Tensor& bias,
                                        double scale) {
  const at::ScalarType compute = q_in.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  const at::Tensor q = q_in.to(compute), k = k_in.to(compute), v = v_in.to(compute);
  // Out of place throughout: in training autograd differentiates this form.
  at::Tensor scores = at::matmul(q, k.transpose(-1, -2)) * scale;
  if (bias.defined())
    scores = scores + bias.to(compute);
  constexpr double kLowest = std::numeric_limits<float>::lowest();
  const at::Tensor row_max =
      scores.size(-1) == 0 ? at::full({q.size(0), q.size(1), q.size(2), 1}, kLowest, q.options())
                           : std::get<0>(scores.max(-1, true)).clamp_min(kLowest);
  const at::Tensor weights = (scores - row_max).exp();
  const at::Tensor sum = weights.sum(-1, true).clamp_min(std::numeric_limits<float>::min());
  return {(at::matmul(weights, v) / sum).to(q_in.scalar_type()), (row_max + sum.log()).squeeze(-1)};
}

// LibTorch's memory-efficient kernel and its log-sum-exp, with the CPU
// kernel's conventions for rows that see no key; nothing where the kernel
// refuses the inputs (its head sizes, its alignment of a bias), said once.
std::optional<PartialAttention> fused_partial(const at::Tensor& q, const at::Tensor& k,
                                              const at::Tensor& v, const at::Tensor& bias,
                                              double scale) {
  try {
    const at::Tensor fused_bias = bias.defined() ? bias.to(q.scalar_type()) : bias;
    auto [out, lse] = compat::fused_attention_with_lse(q, k, v, fused_bias, scale);
    constexpr double kLowest = std::numeric_limits<float>::lowest();
    return PartialAttention{at::nan_to_num(out, 0.0),
                            at::nan_to_num(lse.to(at::kFloat), kLowest, kLowest, kLowest)};
  } catch (const c10::Error& e) {
    static std::once_flag said;
    std::call_once(said, [&] {
      spdlog::warn(
          "the fused attention kernel refused inputs of head size {} ({}); that "
          "attention runs on the whole score matrix instead",
          q.size(3), e.what_without_backtrace());
    });
    return std::nullopt;
  }
}

}  // namespace

PartialAttention attention_partial(const at::Tensor& q_in, const at::Tensor& k_in,
                                   const at::Tensor& v_in, const at::Tensor& bias_in,
                                   double scale) {
  // Named for profilers and the bench's per-kind breakdown (bench/op_breakdown).
  RECORD_USER_SCOPE("xdit::attention");
  check_inputs(q_in, k_in, v_in, bias_in);
  // The fused kernels have no backward here: inputs that need gradients
  // (train-builtin) take the plain formula, which autograd differentiates.
  if (at::GradMode::is_enabled() &&
      (q_in.requires_grad() || k_in.requires_grad() || v_in.requires_grad())) {
    return attention_whole_matrix(q_in, k_in, v_in, bias_in, scale);
  }
  if (!q_in.device().is_cpu() && q_in.scalar_type() != at::kDouble &&
      compat::has_fused_attention()) {
    if (auto fused = fused_partial(q_in, k_in, v_in, bias_in, scale))
      return *std::move(fused);
  }
  if (q_in.scalar_type() == at::kDouble || !q_in.device().is_cpu())
    return attention_whole_matrix(q_in, k_in, v_in, bias_in, scale);
  const at::Tensor q = kernel_input(q_in);
  const at::Tensor k = kernel_input(k_in);
  const at::Tensor v = kernel_input(v_in);
  const int64_t batch = q.size(0);
  const int64_t heads = q.size(1);
  const int64_t lq = q.size(2);
  const int64_t lk = k.size(2);
  const int64_t d = q.size(3);
  const int64_t dv = v.size(3);
  // Broadcast dimensions become stride 0, which the kernel reads as such.
  const at::Tensor bias =
      bias_in.defined() ? kernel_input(bias_in).expand({batch, heads, lq, lk}) : at::Tensor();

  at::Tensor out = output_like(q, dv);
  at::Tensor lse = at::empty({batch, heads, lq}, q.options().dtype(at::kFloat));
  const float* q_data = q.data_ptr<float>();
  const float* k_data = k.data_ptr<float>();
  const float* v_data = v.data_ptr<float>();
  const float* bias_data = bias.defined() ? bias.data_ptr<float>() : nullptr;
  float* out_data = out.data_ptr<float>();
  float* lse_data = lse.data_ptr<float>();
  at::parallel_for(0, batch * heads, 1, [&](int64_t begin, int64_t end) {
    AttentionKernel kernel(lq, lk, d, dv, static_cast<float>(scale));
    for (int64_t slice_index = begin; slice_index < end; ++slice_index) {
      const int64_t b = slice_index / heads;
      const int64_t h = slice_index % heads;
      AttentionSlice slice;
      slice.q = q_data + b * q.stride(0) + h * q.stride(1);
      slice.q_stride = q.stride(2);
      slice.k = k_data + b * k.stride(0) + h * k.stride(1);
      slice.k_stride = k.stride(2);
      slice.v = v_data + b * v.stride(0) + h * v.stride(1);
      slice.v_stride = v.stride(2);
      if (bias_data) {
        slice.bias = bias_data + b * bias.stride(0) + h * bias.stride(1);
        slice.bias_row_stride = bias.stride(2);
        slice.bias_col_stride = bias.stride(3);
      }
      slice.out = out_data + b * out.stride(0) + h * out.stride(1);
      slice.out_stride = out.stride(2);
      slice.lse = lse_data + slice_index * lq;
      kernel.run(slice);
    }
  });
  return {out.to(q_in.scalar_type()), lse};
}

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const at::Tensor& bias, double scale) {
  const bool training =
      at::GradMode::is_enabled() && (q.requires_grad() || k.requires_grad() || v.requires_grad());
  if (!q.device().is_cpu() && compat::has_fused_attention() && !training) {
    // On a GPU LibTorch's fused kernels do this better than any loop of ours.
    RECORD_USER_SCOPE("xdit::attention");
    return compat::fused_attention(q, k, v, bias.defined() ? bias.to(q.scalar_type()) : bias,
                                   scale);
  }
  return attention_partial(q, k, v, bias, scale).out;
}

PartialAttention merge_partial(const PartialAttention& a, const PartialAttention& b) {
  at::Tensor lse = at::logaddexp(a.lse, b.lse);
  at::Tensor wa = (a.lse - lse).exp_().unsqueeze(-1).to(a.out.scalar_type());
  at::Tensor wb = (b.lse - lse).exp_().unsqueeze(-1).to(b.out.scalar_type());
  return {a.out * wa + b.out * wb, lse};
}

int64_t attention_workspace_bytes(int64_t lq, int64_t lk, int64_t d, int64_t dv) {
  return AttentionKernel::workspace_bytes(lq, lk, d, dv);
}

}  // namespace xdit::models
