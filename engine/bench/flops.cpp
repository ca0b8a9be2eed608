#include "bench/flops.hpp"

#include "models/embeddings.hpp"

namespace xdit::bench {

double matmul_flops(int64_t m, int64_t n, int64_t k) {
  return 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
}

double attention_flops(int64_t batch, int64_t heads, int64_t lq, int64_t lk, int64_t head_dim) {
  return 2.0 * matmul_flops(batch * heads * lq, lk, head_dim);
}

StepFlops pixart_step_flops(const models::PixArtConfig& c, int64_t batch, int64_t image_tokens,
                            int64_t text_tokens) {
  const int64_t d = c.inner_dim();
  const int64_t p2 = c.patch_size * c.patch_size;
  const int64_t image_rows = batch * image_tokens;
  const int64_t text_rows = batch * text_tokens;
  constexpr int64_t kSinusoids = models::CombinedTimestepSizeEmbedding::kSinusoidChannels;
  StepFlops flops;

  // Conditioning, once per step: timestep (and size) MLPs, adaLN-single's
  // projection to the six modulation rows, the caption projection.
  flops.linear += matmul_flops(batch, d, kSinusoids) + matmul_flops(batch, d, d);
  if (c.use_additional_conditions) {
    // Two resolution values and one aspect ratio per sample, d/3 wide each.
    flops.linear +=
        matmul_flops(3 * batch, d / 3, kSinusoids) + matmul_flops(3 * batch, d / 3, d / 3);
  }
  flops.linear += matmul_flops(batch, 6 * d, d);
  if (c.caption_channels && c.cross_attention_dim) {
    flops.linear += matmul_flops(text_rows, d, *c.caption_channels) + matmul_flops(text_rows, d, d);
  }

  flops.linear += matmul_flops(image_rows, d, c.in_channels * p2);   // patch embedding
  flops.linear += matmul_flops(image_rows, p2 * c.out_channels, d);  // proj_out

  StepFlops block;
  block.linear = 4 * matmul_flops(image_rows, d, d)  // attn1 q, k, v, out
                 + matmul_flops(image_rows, 4 * d, d) + matmul_flops(image_rows, d, 4 * d);  // ff
  block.self_attention = attention_flops(batch, c.num_attention_heads, image_tokens, image_tokens,
                                         c.attention_head_dim);
  if (c.cross_attention_dim) {
    block.linear += 2 * matmul_flops(image_rows, d, d)                         // attn2 q, out
                    + 2 * matmul_flops(text_rows, d, *c.cross_attention_dim);  // attn2 k, v
    block.cross_attention = attention_flops(batch, c.num_attention_heads, image_tokens, text_tokens,
                                            c.attention_head_dim);
  }
  const auto layers = static_cast<double>(c.num_layers);
  flops.linear += layers * block.linear;
  flops.self_attention = layers * block.self_attention;
  flops.cross_attention = layers * block.cross_attention;
  return flops;
}

StepFlops flux_step_flops(const models::FluxConfig& c, int64_t batch, int64_t image_tokens,
                          int64_t text_tokens) {
  const int64_t d = c.inner_dim();
  const int64_t tokens = image_tokens + text_tokens;
  const int64_t rows = batch * tokens;
  const int64_t blocks = c.num_layers + c.num_single_layers;
  StepFlops flops;
  flops.linear = static_cast<double>(blocks) * matmul_flops(rows, 12 * d, d);
  flops.linear += matmul_flops(batch * image_tokens, d, c.in_channels) +
                  matmul_flops(batch * text_tokens, d, c.joint_attention_dim) +
                  matmul_flops(batch * image_tokens, c.out_channels, d);
  flops.self_attention =
      static_cast<double>(blocks) *
      attention_flops(batch, c.num_attention_heads, tokens, tokens, c.attention_head_dim);
  return flops;
}

StepFlops sd3_step_flops(const models::SD3Config& c, int64_t batch, int64_t image_tokens,
                         int64_t text_tokens) {
  const int64_t d = c.inner_dim();
  const int64_t p2 = c.patch_size * c.patch_size;
  const int64_t image_rows = batch * image_tokens;
  const int64_t text_rows = batch * text_tokens;
  const auto layers = static_cast<double>(c.num_layers);
  const auto duals = static_cast<double>(c.dual_attention_layers.size());
  StepFlops flops;
  flops.linear = layers * matmul_flops(image_rows, 12 * d, d) +
                 (layers - 1) * matmul_flops(text_rows, 12 * d, d) +
                 matmul_flops(text_rows, 3 * d, d) + duals * matmul_flops(image_rows, 4 * d, d);
  flops.linear += matmul_flops(image_rows, d, c.in_channels * p2) +
                  matmul_flops(text_rows, d, c.joint_attention_dim) +
                  matmul_flops(image_rows, p2 * c.out_channels, d);
  const int64_t tokens = image_tokens + text_tokens;
  flops.self_attention =
      layers * attention_flops(batch, c.num_attention_heads, tokens, tokens, c.attention_head_dim) +
      duals * attention_flops(batch, c.num_attention_heads, image_tokens, image_tokens,
                              c.attention_head_dim);
  return flops;
}

}  // namespace xdit::bench
