#include "plan/planner.hpp"

#include <ATen/ATen.h>
#include <c10/util/StringUtil.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>

#include "bench/comm_model.hpp"
#include "bench/flops.hpp"
#include "core/error.hpp"
#include "io/shape_weights.hpp"
#include "models/autoencoder_kl.hpp"
#include "models/clip_text_model.hpp"
#include "models/dit_loader.hpp"
#include "models/t5_encoder.hpp"
#include "parallel/pipefusion_layout.hpp"
#include "pipelines/dit_pipeline.hpp"

namespace xdit::plan {
namespace {

using bench::ParallelMethod;

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
// Values of the model width per token alive at a block's widest point (the
// MLP's 4·d input and output, q, k, v, the residual and the norm's output).
constexpr double kActivationWidths = 12;

// One sample's step, split as the methods split it: work over the image
// tokens (divided by sequence, tensor and stage) and over an MMDiT's text
// stream (recomputed by every sequence rank and every PipeFusion patch).
struct Work {
  double image = 0;
  double text = 0;
  double attention_share = 0;  // of the FLOPs, in attention products
};

Work step_work(const io::ModelFolder& folder, const pipelines::TransformerFacts& facts,
               int64_t image_tokens, int64_t text_tokens, int64_t prompt_tokens) {
  const io::Config config = folder.config("transformer");
  bench::StepFlops flops;
  switch (facts.family) {
    case models::DitFamily::kPixArt:
      // The caption is cross-attended, not carried: all of it is image work.
      flops = bench::pixart_step_flops(models::PixArtConfig::from_config(config), 1, image_tokens,
                                       prompt_tokens);
      return {flops.total(), 0, flops.attention() / flops.total()};
    case models::DitFamily::kSD3:
      flops = bench::sd3_step_flops(models::SD3Config::from_config(config), 1, image_tokens,
                                    text_tokens);
      break;
    case models::DitFamily::kFlux:
      flops = bench::flux_step_flops(models::FluxConfig::from_config(config), 1, image_tokens,
                                     text_tokens);
      break;
  }
  const double image_share =
      static_cast<double>(image_tokens) / static_cast<double>(image_tokens + text_tokens);
  return {flops.total() * image_share, flops.total() * (1 - image_share),
          flops.attention() / flops.total()};
}

// Bytes of a folder component's weights in `dtype`, from its config alone.
int64_t component_bytes(const io::ModelFolder& folder, const std::string& name,
                        at::ScalarType dtype) {
  const io::Component& part = folder.component(name);
  const io::Weights weights = io::shape_only_weights(name, dtype);
  const io::Config config = folder.config(name);
  if (part.class_name == "T5EncoderModel") {
    models::T5Encoder model(models::T5Config::from_config(config), weights);
  } else if (part.class_name.rfind("CLIPTextModel", 0) == 0) {
    models::ClipTextModel model(models::ClipTextConfig::from_config(config), weights,
                                part.class_name == "CLIPTextModelWithProjection");
  } else if (part.class_name == "AutoencoderKL") {
    models::AutoencoderKL model(models::AutoencoderKLConfig::from_config(config), weights,
                                models::AutoencoderKL::Parts::kDecoder);
  } else {
    return 0;
  }
  return weights.bytes_handed_out();
}

// What every mesh of one request shares.
struct Setting {
  pipelines::TransformerFacts facts;
  parallel::ModelFacts model;
  int64_t image_tokens = 0;
  int64_t text_tokens = 0;  // the text stream (0 for PixArt)
  Work work;                // of one sample
  int64_t encoder_bytes = 0;
  int64_t vae_bytes = 0;
  // The decoder's working set at full resolution, on the rank that decodes:
  // about 4 feature maps of its widest full-resolution block (2 where the
  // decode goes by chunks of rows, above 1024² pixels), measured on the
  // 2048² decode of README.md's table.
  double decode_bytes = 0;
  int64_t element_bytes = 2;
};

Setting setting_of(const io::ModelFolder& folder, const PlanRequest& plan) {
  Setting s;
  s.facts = pipelines::transformer_facts(folder);
  s.model = pipelines::model_facts(folder, plan.request);
  s.image_tokens = static_cast<int64_t>(s.model.latent_rows) * s.model.latent_cols;
  s.text_tokens = pipelines::text_stream_tokens(folder, plan.request);
  const int64_t prompt_tokens = plan.request.max_sequence_length.value_or(
      pipelines::default_max_sequence_length(pipelines::pipeline_kind(folder)));
  s.work = step_work(folder, s.facts, s.image_tokens, s.text_tokens, prompt_tokens);
  s.element_bytes = static_cast<int64_t>(c10::elementSize(plan.dtype));
  for (const io::Component& part : folder.components()) {
    if (part.is_null() || part.kind() != io::ComponentKind::kModel || part.name == "transformer")
      continue;
    if (part.name == "vae") {
      const auto vae = models::AutoencoderKLConfig::from_config(folder.config("vae"));
      s.vae_bytes = component_bytes(folder, part.name, vae.force_upcast ? at::kFloat : plan.dtype);
      const double upscale = std::pow(2.0, static_cast<double>(vae.block_out_channels.size() - 1)) *
                             static_cast<double>(s.facts.patch_size);
      const double pixels = static_cast<double>(s.image_tokens) * upscale * upscale;
      const double maps = !plan.request.decode ? 0 : pixels > 1024.0 * 1024.0 ? 2 : 4;
      s.decode_bytes = maps * static_cast<double>(vae.block_out_channels.front()) * pixels *
                       static_cast<double>(s.model.batch) *
                       (vae.force_upcast ? 4.0 : static_cast<double>(s.element_bytes));
    } else {
      s.encoder_bytes += component_bytes(folder, part.name, plan.dtype);
    }
  }
  return s;
}

// The parameters of the largest stage of `config`, one tensor shard of it.
int64_t transformer_bytes(const io::ModelFolder& folder, const Setting& s,
                          const parallel::ParallelConfig& config, at::ScalarType dtype) {
  // Never called: the shards' sums are not computed, only their sizes.
  struct NoSums final : models::PartialSums {
    void sum_(at::Tensor&) override {}
  } no_sums;
  const models::TensorShard shard{0, config.tensor_degree, &no_sums};
  int64_t largest = 0;
  for (int stage = 0; stage < config.pipefusion_degree; ++stage) {
    const io::Weights weights = io::shape_only_weights("transformer", dtype);
    const auto model = models::load_dit(
        s.facts.family, folder.config("transformer"), weights,
        parallel::pipeline_stage(config, static_cast<int>(s.facts.num_layers), stage), shard);
    largest = std::max(largest, model->parameter_bytes());
  }
  return largest;
}

std::string gib(double bytes) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f GiB", bytes / kGiB);
  return text;
}

std::string seconds_text(double seconds) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.3g s", seconds);
  return text;
}

PlannedMesh predict(const io::ModelFolder& folder, const PlanRequest& plan, const Setting& s,
                    const parallel::ParallelConfig& c) {
  const bool distrifusion = c.distrifusion_degree > 1;
  const double seq = distrifusion ? c.distrifusion_degree : c.sequence_degree();
  const double tensor = c.tensor_degree;
  const double stages = c.pipefusion_degree;
  const double patches = stages > 1 ? c.pipeline_patches() : 1;
  const int64_t images = s.model.batch / c.data_degree;
  const bool guided = s.model.guidance;
  const double batch = static_cast<double>(images) * (guided && c.cfg_degree == 1 ? 2 : 1);

  PlannedMesh mesh;
  mesh.config = c;
  const std::string degrees = c.flags();
  mesh.flags = "--nproc " + std::to_string(c.product());
  if (!degrees.empty()) {
    mesh.flags += ' ';
    mesh.flags += degrees;
  }

  // Compute: the image work split every way, the text stream's per sequence
  // rank and per patch.
  const double flops =
      batch * (s.work.image / (seq * tensor * stages) + s.work.text * patches / (tensor * stages));
  mesh.compute_seconds = flops / plan.flops_per_second;

  // Communication, each method on its group's share of the step.
  bench::StepShape base = bench::step_shape(s.facts, s.model, s.text_tokens, c.pipeline_patches(),
                                            c.data_degree, s.element_bytes);
  base.batch = static_cast<int64_t>(batch);
  const double per_stage = 1.0 / stages;
  base.attentions = static_cast<int64_t>(static_cast<double>(base.attentions) * per_stage);
  base.joint_attentions =
      static_cast<int64_t>(static_cast<double>(base.joint_attentions) * per_stage);
  base.image_partial_sums =
      static_cast<int64_t>(static_cast<double>(base.image_partial_sums) * per_stage);
  base.text_partial_sums =
      static_cast<int64_t>(static_cast<double>(base.text_partial_sums) * per_stage);
  const auto attentions = static_cast<double>(base.attentions);
  double exposed = 0;           // communication the step waits for
  double beside_attention = 0;  // Ring's: runs beside the attention it feeds
  double beside_step = 0;       // PipeFusion's and DistriFusion's: beside the whole step
  const auto link = [&](double bytes, double messages,
                        Collective kind = Collective::kPointToPoint) {
    mesh.bytes_sent_per_step += bytes;
    return plan.link.seconds(bytes, messages, kind);
  };
  // Of an overlapping transfer, what the rank's own core spends moving its
  // bytes (host_copy_bandwidth) cannot hide; the rest of the link's time can.
  const auto overlapping = [&](double seconds, double bytes, double& beside) {
    const double core =
        plan.host_copy_bandwidth > 0 ? std::min(seconds, bytes / plan.host_copy_bandwidth) : 0;
    exposed += core;
    beside += seconds - core;
  };
  if (c.ulysses_degree > 1) {
    bench::StepShape shape = base;
    shape.tokens = s.image_tokens / c.ring_degree;
    const double u = c.ulysses_degree;
    exposed +=
        link(bench::method_bytes_per_step(ParallelMethod::kUlysses, shape, c.ulysses_degree).bytes,
             (u - 1) * (2 * attentions + static_cast<double>(shape.joint_attentions) + 1),
             Collective::kAllToAll);
  }
  if (c.ring_degree > 1) {
    bench::StepShape shape = base;
    shape.hidden = base.hidden / c.ulysses_degree;
    const double bytes =
        bench::method_bytes_per_step(ParallelMethod::kRing, shape, c.ring_degree).bytes;
    overlapping(link(bytes, (c.ring_degree - 1) * attentions), bytes, beside_attention);
  }
  if (c.tensor_degree > 1) {
    bench::StepShape shape = base;
    shape.tokens = s.image_tokens / c.sequence_degree();
    exposed += link(
        bench::method_bytes_per_step(ParallelMethod::kTensor, shape, c.tensor_degree).bytes,
        2 * (tensor - 1) * static_cast<double>(shape.image_partial_sums + shape.text_partial_sums),
        Collective::kAllReduce);
  }
  if (c.pipefusion_degree > 1) {
    bench::StepShape shape = base;
    shape.tokens = s.image_tokens / c.ulysses_degree;
    const double bytes =
        bench::method_bytes_per_step(ParallelMethod::kPipeFusion, shape, c.pipefusion_degree).bytes;
    overlapping(link(bytes, patches), bytes, beside_step);
  }
  if (distrifusion) {
    const double bytes =
        bench::method_bytes_per_step(ParallelMethod::kDistriFusion, base, c.distrifusion_degree)
            .bytes;
    overlapping(link(bytes, (seq - 1) * attentions, Collective::kAllGather), bytes, beside_step);
  }
  if (c.cfg_degree > 1) {
    exposed += link(bench::method_bytes_per_step(ParallelMethod::kCfg, base, 2).bytes, 1,
                    Collective::kAllGather);
  }
  const double attention = mesh.compute_seconds * s.work.attention_share;
  const double with_ring = mesh.compute_seconds - attention + std::max(attention, beside_attention);
  mesh.comm_seconds = exposed + beside_attention + beside_step;
  mesh.hidden_seconds = std::min(beside_attention, attention) + std::min(beside_step, with_ring);
  mesh.seconds_per_step = std::max(with_ring, beside_step) + exposed;

  // Memory of the busiest rank (rank 0 also decodes).
  const double e = static_cast<double>(s.element_bytes);
  const double hidden = static_cast<double>(s.facts.inner_dim);
  const double image = static_cast<double>(s.image_tokens);
  const double held_tokens =
      static_cast<double>(s.image_tokens) / (seq * patches) + static_cast<double>(s.text_tokens);
  // Rank 0 decodes the whole batch, or every rank its band of it.
  const double decode = c.use_parallel_vae ? s.decode_bytes / static_cast<double>(c.product())
                                           : s.decode_bytes / static_cast<double>(c.data_degree);
  double memory = plan.base_memory_bytes +
                  static_cast<double>(transformer_bytes(folder, s, c, plan.dtype)) +
                  static_cast<double>(s.encoder_bytes + s.vae_bytes) + decode +
                  batch * held_tokens * hidden * kActivationWidths * e;
  if (c.pipefusion_degree > 1)
    memory += 2 * batch * image * hidden / c.ulysses_degree * e * attentions;
  if (distrifusion)
    memory += 2 * batch * image * hidden * e * attentions;
  mesh.memory_per_rank_bytes = static_cast<int64_t>(memory);
  mesh.fits = !plan.device_memory_bytes || memory <= *plan.device_memory_bytes;

  mesh.why = mesh.fits ? "compute " + seconds_text(mesh.compute_seconds) + ", communication " +
                             seconds_text(mesh.comm_seconds) +
                             (mesh.hidden_seconds > 0
                                  ? " (" + seconds_text(mesh.hidden_seconds) + " of it hidden)"
                                  : std::string()) +
                             ", " + gib(memory) + " per rank"
                       : "needs " + gib(memory) + " per rank, more than the " +
                             gib(*plan.device_memory_bytes) + " of a device";
  return mesh;
}

std::vector<int> divisors(int n) {
  std::vector<int> out;
  for (int d = 1; d <= n; ++d) {
    if (n % d == 0)
      out.push_back(d);
  }
  return out;
}

// Every combination of degrees whose product is `n`, PipeFusion with 1, 2
// and 4 patches per stage, DistriFusion beside cfg and data only.
std::vector<parallel::ParallelConfig> candidate_meshes(int n) {
  std::vector<parallel::ParallelConfig> out;
  for (int data : divisors(n)) {
    for (int cfg : {1, 2}) {
      if ((n / data) % cfg != 0)
        continue;
      const int rest = n / data / cfg;
      if (rest > 1) {
        parallel::ParallelConfig df;
        df.data_degree = data;
        df.cfg_degree = cfg;
        df.distrifusion_degree = rest;
        out.push_back(df);
      }
      for (int stages : divisors(rest)) {
        for (int ulysses : divisors(rest / stages)) {
          for (int ring : divisors(rest / stages / ulysses)) {
            parallel::ParallelConfig c;
            c.data_degree = data;
            c.cfg_degree = cfg;
            c.pipefusion_degree = stages;
            c.ulysses_degree = ulysses;
            c.ring_degree = ring;
            c.tensor_degree = rest / stages / ulysses / ring;
            if (stages == 1) {
              out.push_back(c);
              continue;
            }
            for (int per_stage : {1, 2, 4}) {
              c.num_pipeline_patch = stages * per_stage;
              out.push_back(c);
            }
          }
        }
      }
    }
  }
  return out;
}

}  // namespace

PlannedMesh predict_mesh(const io::ModelFolder& folder, const PlanRequest& request,
                         const parallel::ParallelConfig& config) {
  return predict(folder, request, setting_of(folder, request), config);
}

std::vector<PlannedMesh> plan_meshes(const io::ModelFolder& folder, const PlanRequest& request) {
  if (request.devices < 1)
    throw UsageError("--devices must be at least 1, got " + std::to_string(request.devices));
  if (!(request.flops_per_second > 0))
    throw UsageError("the compute rate (--flops) must be positive");
  const Setting s = setting_of(folder, request);
  std::vector<PlannedMesh> plans;
  for (const parallel::ParallelConfig& config : candidate_meshes(request.devices)) {
    try {
      parallel::validate(config, request.devices, s.model);
    } catch (const UsageError&) {
      continue;  // a launch would refuse it too
    }
    plans.push_back(predict(folder, request, s, config));
  }
  std::stable_sort(plans.begin(), plans.end(), [](const PlannedMesh& a, const PlannedMesh& b) {
    if (a.fits != b.fits)
      return a.fits;
    return a.seconds_per_step < b.seconds_per_step;
  });
  return plans;
}

std::string explain_best(const std::vector<PlannedMesh>& plans, double single_device_seconds) {
  if (plans.empty() || !plans.front().fits)
    return "No mesh fits: give each device more memory, or more devices.";
  const PlannedMesh& best = plans.front();
  const std::string mesh = best.config.product() == 1 ? "one device" : best.config.label();
  char speedup[32];
  std::snprintf(speedup, sizeof(speedup), "%.2f", single_device_seconds / best.seconds_per_step);
  std::string text = mesh + " is predicted fastest at " + seconds_text(best.seconds_per_step) +
                     " per step, " + speedup + "× one device: " + best.why;
  if (plans.size() > 1 && plans[1].fits) {
    text += "; the next, " + plans[1].config.label() + ", takes " +
            seconds_text(plans[1].seconds_per_step) + " (" + plans[1].why + ")";
  }
  return text + ".";
}

}  // namespace xdit::plan
