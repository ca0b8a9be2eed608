#include "train/train_builtin.hpp"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/GradMode.h>

#include <chrono>
#include <cmath>
#include <deque>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <system_error>

#include "core/error.hpp"
#include "core/splitmix.hpp"
#include "data/scene.hpp"
#include "io/model_folder.hpp"
#include "io/safetensors_writer.hpp"
#include "io/weight_source.hpp"
#include "models/autoencoder_kl.hpp"
#include "models/pixart_transformer.hpp"
#include "models/t5_encoder.hpp"
#include "models/t5_tokenizer.hpp"
#include "pipelines/builtin_parts.hpp"
#include "schedulers/noise_schedule.hpp"
#include "schedulers/scheduler_config.hpp"
#include "train/adam_w.hpp"
#include "train/parameters.hpp"
#include "train/scene_batch.hpp"

namespace xdit::train {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kCheckpointFile = "checkpoint.safetensors";
constexpr const char* kLatentsFile = "latents.safetensors";
// Each phase draws from its own random streams.
constexpr uint64_t kVaeStream = 1, kTransformerStream = 2, kInitialValuesStream = 3;
// The scenes the VAE sees are numbered from here, apart from the
// transformer's [0, scenes).
constexpr uint64_t kVaeSceneOffset = uint64_t{1} << 40;
// Latent Diffusion's KL weight: enough to keep the latents a smooth space,
// too little to blur the reconstructions.
constexpr double kKlWeight = 1e-6;
constexpr size_t kLossWindow = 50;
constexpr int64_t kEncodeBatch = 64;

// The randomness of step `step` depends on nothing else, so a resumed run
// draws what the uninterrupted one would have.
at::Generator step_generator(uint64_t seed, uint64_t stream, int64_t step) {
  return at::make_generator<at::CPUGeneratorImpl>(
      splitmix64(splitmix64(seed) ^ splitmix64(stream)) + static_cast<uint64_t>(step));
}

// A linear warm-up over the first tenth (at most 200 steps), then a cosine
// down to a tenth of the peak.
double learning_rate(double peak, int64_t step, int64_t total) {
  const int64_t warmup = std::clamp<int64_t>(total / 10, 1, 200);
  if (step < warmup)
    return peak * static_cast<double>(step + 1) / static_cast<double>(warmup);
  const double progress = static_cast<double>(step - warmup) /
                          static_cast<double>(std::max<int64_t>(1, total - warmup));
  return peak * (0.1 + 0.45 * (1.0 + std::cos(M_PI * progress)));
}

class LossWindow {
 public:
  void add(double loss) {
    losses_.push_back(loss);
    if (losses_.size() > kLossWindow)
      losses_.pop_front();
  }
  double mean() const {
    return losses_.empty() ? 0.0
                           : std::accumulate(losses_.begin(), losses_.end(), 0.0) /
                                 static_cast<double>(losses_.size());
  }

 private:
  std::deque<double> losses_;
};

io::NamedTensors prefixed(const std::string& component, const io::NamedTensors& tensors) {
  io::NamedTensors out;
  for (const auto& [key, tensor] : tensors)
    out.emplace_back(component + "/" + key, tensor);
  return out;
}

// What the work folder holds between runs: the parameters of each component
// as "<component>/<key>", the optimizer's moments, the phase and its step.
class Checkpoint {
 public:
  static std::optional<Checkpoint> read(const std::filesystem::path& path,
                                        const std::string& options) {
    if (!std::filesystem::exists(path))
      return std::nullopt;
    Checkpoint checkpoint;
    checkpoint.file_ = io::SafetensorsWeights::open(path);
    const auto& metadata = checkpoint.file_->metadata();
    const auto field = [&](const std::string& key) {
      const auto it = metadata.find(key);
      if (it == metadata.end())
        throw FileError(path.string(), "is not a train-builtin checkpoint (no '" + key + "')");
      return it->second;
    };
    if (field("options") != options) {
      throw FileError(path.string(),
                      "was written by a run with other options (" + field("options") +
                          "); give the same options to resume, or another --work folder");
    }
    checkpoint.phase_ = field("phase");
    checkpoint.step_ = std::stoll(field("step"));
    return checkpoint;
  }

  static void write(const std::filesystem::path& path, const std::string& options,
                    const std::string& phase, int64_t step, const io::NamedTensors& tensors) {
    io::write_safetensors(path, tensors,
                          {{"options", options}, {"phase", phase}, {"step", std::to_string(step)}});
  }

  const std::string& phase() const { return phase_; }
  int64_t step() const { return step_; }
  const io::WeightSource& source() const { return *file_; }

  // The parameters of `component`, or nullopt when it has none yet.
  std::optional<io::NamedTensors> parameters(const std::string& component) const {
    const std::string prefix = component + "/";
    io::NamedTensors out;
    for (const auto& key : file_->keys()) {
      if (key.rfind(prefix, 0) == 0)
        out.emplace_back(key.substr(prefix.size()), file_->load(key));
    }
    if (out.empty())
      return std::nullopt;
    return out;
  }

 private:
  std::shared_ptr<io::SafetensorsWeights> file_;
  std::string phase_;
  int64_t step_ = 0;
};

struct PhaseResult {
  PhaseFigures figures;
  bool finished = false;
};

// Steps [first, total) of one phase, checkpointing every
// options.checkpoint_seconds, on a stop and at the end.
PhaseResult run_phase(const std::string& phase, int64_t first, int64_t total,
                      const std::function<double(int64_t)>& step,
                      const std::function<void(int64_t)>& save, const TrainOptions& options,
                      const TrainProgressCallback& progress, const std::atomic<bool>* stop) {
  PhaseResult result;
  result.figures.phase = phase;
  LossWindow losses;
  const auto start = Clock::now();
  auto saved = start;
  const auto finish = [&](int64_t done) {
    save(done);
    result.figures.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    result.figures.final_loss = losses.mean();
  };
  for (int64_t i = first; i < total; ++i) {
    if (stop && stop->load()) {
      finish(i);
      return result;
    }
    const double loss = step(i);
    if (!std::isfinite(loss)) {
      throw Error("train-builtin: the " + phase + " loss became " + std::to_string(loss) +
                  " at step " + std::to_string(i) + "; try a lower learning rate");
    }
    losses.add(loss);
    ++result.figures.steps;
    if (progress)
      progress({phase, i + 1, total, losses.mean()});
    if (std::chrono::duration<double>(Clock::now() - saved).count() >= options.checkpoint_seconds) {
      save(i + 1);
      saved = Clock::now();
    }
  }
  finish(total);
  result.finished = true;
  return result;
}

// One step of the autoencoder: reconstruct a batch of fresh scenes from a
// sample of their latent distribution. Returns the L1 reconstruction loss.
double vae_step(const models::AutoencoderKL& vae, AdamW& optimizer, const TrainOptions& options,
                int64_t step) {
  auto generator = step_generator(options.seed, kVaeStream, step);
  std::vector<uint64_t> indices;
  for (int64_t i = 0; i < options.vae_batch; ++i)
    indices.push_back(kVaeSceneOffset + static_cast<uint64_t>(step * options.vae_batch + i));
  const at::Tensor x =
      scene_batch(options.seed, indices, options.shape.image_size).images.to(options.device);
  const models::EncoderOutput posterior = vae.encode(x);
  const at::Tensor noise =
      at::randn(posterior.mean.sizes(), generator, at::kFloat).to(options.device);
  const at::Tensor z = posterior.mean + (posterior.logvar * 0.5).exp() * noise;
  const at::Tensor reconstruction = vae.decode(z);
  const at::Tensor l1 = (reconstruction - x).abs().mean();
  const at::Tensor kl =
      (posterior.mean.pow(2) + posterior.logvar.exp() - 1.0 - posterior.logvar).sum() *
      (0.5 / static_cast<double>(options.vae_batch));
  optimizer.zero_grad();
  (l1 + kl * kKlWeight).backward();
  optimizer.step(learning_rate(options.vae_lr, step, options.vae_steps));
  return l1.item<double>();
}

// The latent means of scenes [0, options.scenes), unscaled, on the CPU.
at::Tensor encode_scenes(const models::AutoencoderKL& vae, const TrainOptions& options,
                         const TrainProgressCallback& progress) {
  const c10::NoGradGuard no_grad;
  std::vector<at::Tensor> parts;
  for (int64_t first = 0; first < options.scenes; first += kEncodeBatch) {
    std::vector<uint64_t> indices;
    for (int64_t i = first; i < std::min(options.scenes, first + kEncodeBatch); ++i)
      indices.push_back(static_cast<uint64_t>(i));
    const at::Tensor x =
        scene_batch(options.seed, indices, options.shape.image_size).images.to(options.device);
    parts.push_back(vae.encode(x).mean.to(at::kCPU));
    if (progress)
      progress({"latents", first + static_cast<int64_t>(indices.size()), options.scenes, 0.0});
  }
  return at::cat(parts);
}

struct TextAndDit {
  const models::T5Tokenizer& tokenizer;
  const models::T5Encoder& text_encoder;
  const models::PixArtTransformer& transformer;
};

// One step of the transformer and text encoder: predict the noise added to
// the latents of scenes from the set at a random training timestep, given
// their captions (a share of them dropped). Returns the MSE loss.
double transformer_step(const TextAndDit& models, AdamW& optimizer, const at::Tensor& latents,
                        const at::Tensor& alphas_cumprod, const TrainOptions& options,
                        int64_t step) {
  auto generator = step_generator(options.seed, kTransformerStream, step);
  const int64_t batch = options.transformer_batch;
  const at::Tensor picks = at::randint(latents.size(0), {batch}, generator, at::kLong);
  const at::Tensor dropped = at::rand({batch}, generator, at::kDouble) < options.caption_dropout;
  std::vector<std::string> captions;
  for (int64_t i = 0; i < batch; ++i) {
    const bool drop = dropped[i].item<bool>();
    const auto index = static_cast<uint64_t>(picks[i].item<int64_t>());
    captions.push_back(drop ? "" : data::caption(data::sample_scene(options.seed, index)));
  }
  const models::T5Tokens tokens = models.tokenizer.encode(captions, options.shape.caption_tokens);
  if (tokens.attention_mask.select(1, options.shape.caption_tokens - 1).any().item<bool>()) {
    throw UsageError("train-builtin: a caption fills all " +
                     std::to_string(options.shape.caption_tokens) +
                     " caption tokens; the shape's caption_tokens is too small");
  }
  const at::Tensor timesteps = at::randint(alphas_cumprod.size(0), {batch}, generator, at::kLong);
  const at::Tensor x0 = latents.index_select(0, picks);
  const at::Tensor noise = at::randn(x0.sizes(), generator, at::kFloat);
  const at::Tensor alpha = alphas_cumprod.index_select(0, timesteps).view({batch, 1, 1, 1});
  const at::Tensor noisy = (alpha.sqrt() * x0 + (1.0 - alpha).sqrt() * noise).to(options.device);
  const at::Tensor mask = tokens.attention_mask.to(options.device);
  const at::Tensor text = models.text_encoder.forward(tokens.input_ids.to(options.device), mask);
  const at::Tensor prediction =
      models.transformer.forward(noisy, text, timesteps.to(options.device), mask);
  const at::Tensor loss = (prediction - noise.to(options.device)).pow(2).mean();
  optimizer.zero_grad();
  loss.backward();
  optimizer.step(learning_rate(options.transformer_lr, step, options.transformer_steps));
  return loss.item<double>();
}

// `initial`'s keys, each with init_from's value for them. The folder's
// other keys are left (a T5 file holds its tied embedding twice).
io::NamedTensors from_folder(const io::NamedTensors& initial, const std::filesystem::path& folder,
                             const std::string& component) {
  const auto source = io::ModelFolder(folder).weights(component);
  io::NamedTensors values;
  for (const auto& [key, tensor] : initial) {
    if (!source->contains(key) || source->shape(key) != tensor.sizes().vec()) {
      throw FileError(source->describe(), "has no '" + key +
                                              "' of the shape the options give; "
                                              "--init-from takes a model of the same shape");
    }
    values.emplace_back(key, source->load(key).to(at::kFloat));
  }
  return values;
}

io::NamedTensors joined(std::initializer_list<io::NamedTensors> parts) {
  io::NamedTensors all;
  for (const auto& part : parts)
    all.insert(all.end(), part.begin(), part.end());
  return all;
}

}  // namespace

Json TrainOptions::to_json() const {
  return {{"shape", shape.to_json()},
          {"init_from", init_from.string()},
          {"vae_steps", vae_steps},
          {"vae_batch", vae_batch},
          {"vae_lr", vae_lr},
          {"scenes", scenes},
          {"transformer_steps", transformer_steps},
          {"transformer_batch", transformer_batch},
          {"transformer_lr", transformer_lr},
          {"caption_dropout", caption_dropout},
          {"seed", seed}};
}

void TrainOptions::validate() const {
  const auto positive = [](int64_t value, const char* name) {
    if (value < 1)
      throw UsageError(std::string("--") + name + " must be at least 1, got " +
                       std::to_string(value));
  };
  if (init_from.empty() || vae_steps != 0)
    positive(vae_steps, "vae-steps");
  positive(vae_batch, "vae-batch");
  positive(scenes, "scenes");
  positive(transformer_steps, "transformer-steps");
  positive(transformer_batch, "transformer-batch");
  if (!(vae_lr > 0) || !(transformer_lr > 0))
    throw UsageError("--vae-lr and --transformer-lr must be positive");
  if (!(caption_dropout >= 0 && caption_dropout < 1))
    throw UsageError("--caption-dropout must be in [0, 1), got " + std::to_string(caption_dropout));
  if (output.empty() || work_dir.empty())
    throw UsageError("train-builtin needs an output folder and a work folder");
  const int64_t factor = shape.vae_factor();
  if (shape.image_size % (2 * factor) != 0) {
    throw UsageError("the image size " + std::to_string(shape.image_size) +
                     " is not a multiple of the VAE's factor times the patch size (" +
                     std::to_string(2 * factor) + ")");
  }
}

TrainReport train_builtin(const TrainOptions& options, const TrainProgressCallback& progress,
                          const std::atomic<bool>* stop) {
  options.validate();
  if (std::filesystem::exists(options.output)) {
    throw FileError(options.output.string(),
                    "exists already; train-builtin writes its model to a new folder");
  }
  std::error_code error;
  std::filesystem::create_directories(options.work_dir, error);
  if (error)
    throw FileError(options.work_dir.string(), "cannot be created: " + error.message());
  const auto checkpoint_path = options.work_dir / kCheckpointFile;
  const std::string options_text = options.to_json().dump();
  const std::optional<Checkpoint> checkpoint = Checkpoint::read(checkpoint_path, options_text);

  TrainReport report;
  report.resumed = checkpoint.has_value();
  SceneModelConfigs configs = scene_model_configs(options.shape);
  // Random starting values: SyntheticWeights' (Gaussian with std
  // 1/sqrt(fan-in), norm scales one, biases zero).
  const uint64_t init_seed = splitmix64(options.seed ^ kInitialValuesStream);
  const auto starting = [&](const std::string& component, auto make) {
    if (checkpoint) {
      if (auto stored = checkpoint->parameters(component))
        return Parameters(*stored, options.device, component);
    }
    if (!options.init_from.empty())
      return Parameters(from_folder(make(), options.init_from, component), options.device,
                        component);
    return Parameters(make(), options.device, component);
  };

  // 1. The autoencoder.
  const auto vae_config = models::AutoencoderKLConfig::from_config(
      pipelines::builtin::as_config(configs.vae, "the scene VAE"));
  const Parameters vae_parameters = starting("vae", [&] {
    return io::synthesize_model<models::AutoencoderKL>(
        vae_config, init_seed, "the scene VAE", models::AutoencoderKL::Parts::kEncoderAndDecoder);
  });
  const models::AutoencoderKL vae(vae_config, vae_parameters.weights());
  report.vae_parameters = vae_parameters.numel();
  if (!checkpoint || checkpoint->phase() == "vae") {
    AdamW optimizer(prefixed("vae", vae_parameters.named()));
    if (checkpoint)
      optimizer.load_state(checkpoint->source(), checkpoint->step());
    const auto save = [&](int64_t step) {
      Checkpoint::write(
          checkpoint_path, options_text, step < options.vae_steps ? "vae" : "transformer",
          step < options.vae_steps ? step : 0,
          joined({prefixed("vae", vae_parameters.values(at::kFloat)),
                  step < options.vae_steps ? optimizer.state() : io::NamedTensors{}}));
    };
    const PhaseResult result = run_phase(
        "vae", checkpoint ? checkpoint->step() : 0, options.vae_steps,
        [&](int64_t step) { return vae_step(vae, optimizer, options, step); }, save, options,
        progress, stop);
    report.phases.push_back(result.figures);
    if (!result.finished)
      return report;
  }
  // The VAE is fixed from here on.
  for (const at::Tensor& tensor : vae_parameters.tensors())
    tensor.requires_grad_(false);

  // 2. The latents of the transformer's scenes, kept in the work folder.
  const auto latents_path = options.work_dir / kLatentsFile;
  at::Tensor latents;
  if (std::filesystem::exists(latents_path)) {
    const auto file = io::SafetensorsWeights::open(latents_path);
    const auto it = file->metadata().find("options");
    if (it == file->metadata().end() || it->second != options_text)
      throw FileError(latents_path.string(), "was made with other options; delete it");
    latents = file->load("latents").clone();
  } else {
    const auto start = Clock::now();
    latents = encode_scenes(vae, options, progress);
    io::write_safetensors(latents_path, {{"latents", latents}}, {{"options", options_text}});
    report.phases.push_back({"latents", options.scenes,
                             std::chrono::duration<double>(Clock::now() - start).count(), 0.0});
  }
  report.scaling_factor = 1.0 / latents.std().item<double>();
  latents.mul_(report.scaling_factor);

  // 3. The transformer and the text encoder, together.
  const auto text_config = models::T5Config::from_config(
      pipelines::builtin::as_config(configs.text_encoder, "the scene text encoder"));
  const auto transformer_config = models::PixArtConfig::from_config(
      pipelines::builtin::as_config(configs.transformer, "the scene transformer"));
  const Parameters text_parameters = starting("text_encoder", [&] {
    return io::synthesize_model<models::T5Encoder>(text_config, init_seed + 1,
                                                   "the scene text encoder");
  });
  const Parameters transformer_parameters = starting("transformer", [&] {
    return io::synthesize_model<models::PixArtTransformer>(transformer_config, init_seed + 2,
                                                           "the scene transformer");
  });
  report.text_encoder_parameters = text_parameters.numel();
  report.transformer_parameters = transformer_parameters.numel();
  const models::T5Encoder text_encoder(text_config, text_parameters.weights());
  const models::PixArtTransformer transformer(transformer_config, transformer_parameters.weights());
  const models::T5Tokenizer tokenizer = models::T5Tokenizer::from_serialized(configs.spiece);
  const at::Tensor alphas_cumprod =
      schedulers::make_alphas_cumprod(schedulers::SchedulerConfig(pipelines::builtin::as_config(
                                          configs.scheduler, "the scene scheduler")),
                                      schedulers::ZeroSnrTerminal::kExactZero);
  AdamW optimizer(joined({prefixed("transformer", transformer_parameters.named()),
                          prefixed("text_encoder", text_parameters.named())}));
  const bool resuming =
      checkpoint && checkpoint->phase() == "transformer" && checkpoint->step() > 0;
  if (resuming)
    optimizer.load_state(checkpoint->source(), checkpoint->step());
  const auto save = [&](int64_t step) {
    Checkpoint::write(
        checkpoint_path, options_text, "transformer", step,
        joined({prefixed("vae", vae_parameters.values(at::kFloat)),
                prefixed("transformer", transformer_parameters.values(at::kFloat)),
                prefixed("text_encoder", text_parameters.values(at::kFloat)), optimizer.state()}));
  };
  const TextAndDit parts{tokenizer, text_encoder, transformer};
  const PhaseResult result = run_phase(
      "transformer", resuming ? checkpoint->step() : 0, options.transformer_steps,
      [&](int64_t step) {
        return transformer_step(parts, optimizer, latents, alphas_cumprod, options, step);
      },
      save, options, progress, stop);
  report.phases.push_back(result.figures);
  if (!result.finished)
    return report;

  // 4. The diffusers folder, in half precision (the model computes in float32).
  configs.vae["scaling_factor"] = report.scaling_factor;
  write_scene_model(options.output, configs,
                    {vae_parameters.values(at::kHalf), transformer_parameters.values(at::kHalf),
                     text_parameters.values(at::kHalf)});
  report.finished = true;
  return report;
}

}  // namespace xdit::train
