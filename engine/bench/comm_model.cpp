#include "bench/comm_model.hpp"

#include "core/error.hpp"

namespace xdit::bench {

std::string_view method_name(ParallelMethod method) {
  switch (method) {
    case ParallelMethod::kSerial:
      return "serial";
    case ParallelMethod::kCfg:
      return "cfg";
    case ParallelMethod::kData:
      return "data";
    case ParallelMethod::kUlysses:
      return "ulysses";
    case ParallelMethod::kRing:
      return "ring";
    case ParallelMethod::kTensor:
      return "tensor";
    case ParallelMethod::kPipeFusion:
      return "pipefusion";
    case ParallelMethod::kDistriFusion:
      return "distrifusion";
  }
  return "?";
}

StepShape step_shape(const pipelines::TransformerFacts& model, const parallel::ModelFacts& facts,
                     int64_t text_tokens, int patches, int data_degree, int64_t element_bytes) {
  if (data_degree < 1 || facts.batch % data_degree != 0) {
    throw UsageError("data degree " + std::to_string(data_degree) + " does not divide the " +
                     std::to_string(facts.batch) + " images");
  }
  StepShape shape;
  shape.tokens = static_cast<int64_t>(facts.latent_rows) * facts.latent_cols;
  shape.hidden = model.inner_dim;
  shape.layers = model.num_layers;
  shape.text_tokens = text_tokens;
  shape.attentions = model.attentions;
  shape.joint_attentions = model.joint_attentions;
  shape.image_partial_sums = model.image_partial_sums;
  shape.text_partial_sums = model.text_partial_sums;
  shape.patches = patches;
  shape.images = facts.batch / data_degree;
  shape.batch = shape.images * (facts.guidance ? 2 : 1);
  const int64_t patch_area = model.patch_size * model.patch_size;
  shape.noise_values = patch_area * model.latent_channels;
  shape.output_values = patch_area * model.latent_channels * (model.learned_sigma ? 2 : 1);
  shape.element_bytes = element_bytes;
  return shape;
}

CommEstimate method_bytes_per_step(ParallelMethod method, const StepShape& s, int ranks) {
  if (ranks < 1)
    throw UsageError("a method runs on at least one rank, not " + std::to_string(ranks));
  const double n = ranks;
  const double f = (n - 1) / n;
  const double e = static_cast<double>(s.element_bytes);
  const double b = static_cast<double>(s.batch);
  const double p = static_cast<double>(s.tokens);
  const double hs = static_cast<double>(s.hidden);
  const double lt = static_cast<double>(s.text_tokens);
  const double attentions = static_cast<double>(s.attentions);
  // The sequence-split methods end every step as SynchronousRunner does: the
  // output layer's patches of the rank's tokens (p/N of them) all-gathered,
  // so that every rank steps the scheduler on the whole latent.
  const double output_gather = f * b * p * static_cast<double>(s.output_values);
  switch (method) {
    case ParallelMethod::kSerial:
      return {0, "0"};
    case ParallelMethod::kData:
      // Each data rank denoises its own images; the final latents and images
      // are gathered once after the loop, in no step.
      return {0, "0 (results gathered once, after the loop)"};
    case ParallelMethod::kCfg:
      // Guidance::combine all-gathers the two branches' noise predictions
      // (in_channels, after the learned-sigma split): a rank's branch is
      // images × p × patch² × C values, sent to the other rank.
      return {(n - 1) * static_cast<double>(s.images) * p * static_cast<double>(s.noise_values) * e,
              "(N-1)*images*p*patch^2*C_in*E"};
    case ParallelMethod::kTensor:
      // Each row-parallel projection (PixArt: self-attention out,
      // cross-attention out, feed-forward out per block, R = 3L; an MMDiT's
      // per stream) is an all-reduce of its tokens' [B, tokens, hs], counted
      // 2(N-1)/N. Issue 4's 4·p·hs·L is a block with two (self-attention and
      // MLP, as in Megatron) at large N: 2 × 2.
      return {2 * f * b * hs *
                  (p * static_cast<double>(s.image_partial_sums) +
                   lt * static_cast<double>(s.text_partial_sums)) *
                  e,
              "2f*B*hs*(p*R + Lt*Rt)*E"};
    case ParallelMethod::kUlysses:
      // Per attention UspAttention sends q, k and v stacked in one
      // all-to-all (3·B·p/N·hs, of which f leaves) and the output back in
      // another (B·p/N·hs, f leaves): 4f/N·B·p·hs. The text's q, k, v need
      // no exchange (each rank takes its heads); their outputs, hs/N of
      // each text token per rank, are all-gathered: f·B·Lt·hs per joint
      // attention. Issue 4's (4/N)·p·hs·L is f → 1 without text.
      return {(4 * f / n * b * p * hs * attentions +
               f * b * lt * hs * static_cast<double>(s.joint_attentions)) *
                      e +
                  output_gather * e,
              "(4f/N*B*p*hs*A + f*B*Lt*hs*J)*E + f*B*p*patch^2*C_out*E"};
    case ParallelMethod::kRing:
      // Per attention ring_attention passes the rank's image K and V block
      // (2·B·p/N·hs) N-1 times around the ring: 2f·B·p·hs; the text's K and
      // V, on every rank, never travel. Issue 4's 2·p·hs·L is f → 1.
      return {2 * f * b * p * hs * attentions * e + output_gather * e,
              "2f*B*p*hs*A*E + f*B*p*patch^2*C_out*E"};
    case ParallelMethod::kDistriFusion:
      // Per attention the rank's patch's image K and V (2·B·p/N·hs) go to
      // the N-1 others (an all-gather, one step stale); after its scheduler
      // step the rank's band of the latents (images·p/N·patch²·C_in) is
      // all-gathered for progress and previews.
      return {2 * f * b * p * hs * attentions * e +
                  f * static_cast<double>(s.images) * p * static_cast<double>(s.noise_values) * e,
              "2f*B*p*hs*A*E + f*images*p*patch^2*C_in*E"};
    case ParallelMethod::kPipeFusion:
      // Every patch's activations cross each of the N-1 stage boundaries once
      // per step (B·p·hs in all), each of the M patches with its copy of the
      // text stream (B·Lt·hs), and the last stage sends the stepped latent
      // patches back to the first (images·p·patch²·C_in); spread over N
      // ranks. The last step sends no latents back: the final ones are
      // broadcast once, after the loop. Issue 4's 2·p·hs counts a boundary's
      // send and receive.
      return {((n - 1) * b * (p + static_cast<double>(s.patches) * lt) * hs +
               static_cast<double>(s.images) * p * static_cast<double>(s.noise_values)) *
                  e / n,
              "((N-1)*B*(p + M*Lt)*hs + images*p*patch^2*C_in)*E / N"};
  }
  return {0, "?"};
}

double table_bytes_per_step(ParallelMethod method, const StepShape& s, int ranks) {
  const double unit = static_cast<double>(s.batch) * static_cast<double>(s.tokens) *
                      static_cast<double>(s.hidden) * static_cast<double>(s.element_bytes);
  const double layers = static_cast<double>(s.layers);
  switch (method) {
    case ParallelMethod::kTensor:
      return 4 * unit * layers;
    case ParallelMethod::kDistriFusion:
    case ParallelMethod::kRing:
      return 2 * unit * layers;
    case ParallelMethod::kUlysses:
      return 4.0 / ranks * unit * layers;
    case ParallelMethod::kPipeFusion:
      return 2 * unit;
    default:
      return 0;
  }
}

}  // namespace xdit::bench
