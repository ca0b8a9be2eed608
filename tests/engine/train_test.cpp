// train/: the optimizer against its update rule, gradients through the
// models' own code, and train-builtin end to end on a tiny shape: the folder
// it writes loads and generates, an interrupted run resumes to the very
// same weights, and bad options or a foreign checkpoint are refused.

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "io/model_folder.hpp"
#include "io/synthetic_weights.hpp"
#include "io/weight_source.hpp"
#include "models/attention.hpp"
#include "models/t5_encoder.hpp"
#include "pipelines/builtin_parts.hpp"
#include "pipelines/dit_pipeline.hpp"
#include "temp_folder.hpp"
#include "train/adam_w.hpp"
#include "train/parameters.hpp"
#include "train/train_builtin.hpp"

namespace xdit::train {
namespace {

using testing::TempFolder;

constexpr double kFloatEps = std::numeric_limits<float>::epsilon();

TEST(AdamW, FollowsTheUpdateRule) {
  at::Tensor p = at::tensor({1.0f, -2.0f}).requires_grad_(true);
  AdamWOptions options;
  options.max_grad_norm = 1e9;
  AdamW optimizer({{"p", p}}, options);
  // Two steps of loss sum(p^2)/2 (gradient p), followed in double by hand.
  double m[2] = {0, 0}, v[2] = {0, 0}, expected[2] = {1.0, -2.0};
  for (int step = 1; step <= 2; ++step) {
    optimizer.zero_grad();
    (p * p).sum().mul(0.5).backward();
    optimizer.step(0.1);
    for (int i = 0; i < 2; ++i) {
      const double g = expected[i];
      m[i] = 0.9 * m[i] + 0.1 * g;
      v[i] = 0.99 * v[i] + 0.01 * g * g;
      const double m_hat = m[i] / (1 - std::pow(0.9, step));
      const double v_hat = v[i] / (1 - std::pow(0.99, step));
      expected[i] -= 0.1 * m_hat / (std::sqrt(v_hat) + options.eps);
    }
  }
  for (int i = 0; i < 2; ++i)
    EXPECT_NEAR(p[i].item<double>(), expected[i], 8 * kFloatEps * std::abs(expected[i]));
}

TEST(AdamW, ReportsTheNormAndResumesFromItsState) {
  const auto run = [](bool reload) {
    at::Tensor p = at::tensor({3.0f, 4.0f}).requires_grad_(true);
    AdamW optimizer({{"p", p}});
    optimizer.zero_grad();
    (p * p).sum().mul(0.5).backward();
    EXPECT_NEAR(optimizer.step(0.1), 5.0, 1e-5);
    std::optional<AdamW> resumed;
    AdamW* next = &optimizer;
    if (reload) {
      std::map<std::string, at::Tensor> state;
      for (const auto& [key, tensor] : optimizer.state())
        state[key] = tensor;
      resumed.emplace(io::NamedTensors{{"p", p}});
      resumed->load_state(io::TensorMapWeights(state, "state"), optimizer.steps());
      next = &*resumed;
    }
    next->zero_grad();
    (p * p).sum().mul(0.5).backward();
    next->step(0.1);
    return p.detach().clone();
  };
  EXPECT_TRUE(at::equal(run(false), run(true)));
  AdamW other({{"q", at::zeros({2}).requires_grad_(true)}});
  EXPECT_THROW(other.load_state(io::TensorMapWeights({}, "empty"), 1), WeightError);
}

// Training takes attention through the plain formula: the same values as
// the kernel, and gradients that match float64's.
TEST(TrainAttention, GradientsMatchFloat64) {
  at::manual_seed(3);
  const int64_t lq = 9, lk = 13, d = 8;
  const at::Tensor q0 = at::randn({2, 3, lq, d}), k0 = at::randn({2, 3, lk, d}),
                   v0 = at::randn({2, 3, lk, d});
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  const auto grads = [&](at::ScalarType dtype) {
    at::Tensor q = q0.to(dtype).detach().requires_grad_(true),
               k = k0.to(dtype).detach().requires_grad_(true),
               v = v0.to(dtype).detach().requires_grad_(true);
    const at::Tensor out = models::attention(q, k, v, at::Tensor(), scale);
    (out * out).sum().backward();
    return std::vector<at::Tensor>{out.detach().to(at::kDouble), q.grad().to(at::kDouble),
                                   k.grad().to(at::kDouble), v.grad().to(at::kDouble)};
  };
  const auto f32 = grads(at::kFloat), f64 = grads(at::kDouble);
  // float32 rounding of sums over the keys and the head dimension, on
  // operands of the scale of the reference.
  for (size_t i = 0; i < f32.size(); ++i) {
    const double bound = 16 * kFloatEps * (lk + d) * f64[i].abs().max().item<double>();
    EXPECT_LE((f32[i] - f64[i]).abs().max().item<double>(), bound) << "tensor " << i;
  }
  const at::Tensor kernel = models::attention(q0, k0, v0, at::Tensor(), scale);
  EXPECT_LE((kernel.to(at::kDouble) - f64[0]).abs().max().item<double>(),
            16 * kFloatEps * (lk + d) * f64[0].abs().max().item<double>());
}

TEST(Parameters, ModelsHoldTheLeavesThatAutogradReaches) {
  const auto config =
      pipelines::builtin::as_config(pipelines::builtin::t5_encoder_config(40, 16), "tiny t5");
  const auto t5_config = models::T5Config::from_config(config);
  const Parameters parameters(io::synthesize_model<models::T5Encoder>(t5_config, 5, "t5"), at::kCPU,
                              "t5");
  const models::T5Encoder encoder(t5_config, parameters.weights());
  encoder.forward(at::tensor({4, 7, 9, 1}, at::kLong).view({1, 4})).pow(2).sum().backward();
  for (const auto& [key, tensor] : parameters.named()) {
    if (key == "shared.weight" || key.find("relative_attention_bias") != std::string::npos)
      continue;  // rows of the ids and buckets used only
    ASSERT_TRUE(tensor.grad().defined()) << key;
    EXPECT_GT(tensor.grad().abs().max().item<double>(), 0.0) << key;
  }
  EXPECT_GT(parameters.numel(), 0);
}

TrainOptions tiny_options(const TempFolder& folder, const std::string& name) {
  TrainOptions options;
  options.output = folder / name;
  options.work_dir = folder / (name + ".work");
  options.shape.image_size = 16;
  options.shape.vae_channels = {16, 16};
  options.shape.text_width = 16;
  options.shape.layers = 1;
  options.shape.heads = 2;
  options.shape.head_dim = 8;
  options.vae_steps = 3;
  options.vae_batch = 2;
  options.scenes = 8;
  options.transformer_steps = 3;
  options.transformer_batch = 2;
  return options;
}

io::NamedTensors all_weights(const std::filesystem::path& folder) {
  io::NamedTensors all;
  const io::ModelFolder model(folder);
  for (const char* component : {"vae", "transformer", "text_encoder"}) {
    const auto source = model.weights(component);
    for (const auto& key : source->keys())
      all.emplace_back(std::string(component) + "/" + key, source->load(key));
  }
  return all;
}

TEST(TrainBuiltin, WritesAModelThePipelineLoadsAndRuns) {
  const TempFolder folder;
  const TrainOptions options = tiny_options(folder, "model");
  std::vector<std::string> phases;
  const TrainReport report = train_builtin(options, [&](const TrainProgress& p) {
    if (phases.empty() || phases.back() != p.phase)
      phases.push_back(p.phase);
    EXPECT_TRUE(std::isfinite(p.loss));
  });
  EXPECT_TRUE(report.finished);
  EXPECT_EQ(phases, (std::vector<std::string>{"vae", "latents", "transformer"}));
  EXPECT_GT(report.scaling_factor, 0.0);
  const auto pipeline = pipelines::DitPipeline::load(io::ModelFolder(options.output));
  pipelines::GenerationRequest request;
  request.prompts = {"a red circle on a blue background"};
  request.num_inference_steps = 2;
  const auto result = pipeline.generate(request);
  EXPECT_EQ(result.images.sizes(), (std::vector<int64_t>{1, 16, 16, 3}));
}

TEST(TrainBuiltin, AnInterruptedRunResumesToTheSameWeights) {
  const TempFolder folder;
  train_builtin(tiny_options(folder, "straight"), {});

  const TrainOptions options = tiny_options(folder, "interrupted");
  std::atomic<bool> stop{false};
  int runs = 0;
  for (const std::string stop_in : {"vae", "transformer", ""}) {
    stop = false;
    const TrainReport report = train_builtin(
        options,
        [&](const TrainProgress& p) {
          if (p.phase == stop_in && p.done == 1)
            stop = true;
        },
        &stop);
    EXPECT_EQ(report.finished, stop_in.empty());
    EXPECT_EQ(report.resumed, runs > 0);
    ++runs;
  }
  // The same steps on the same data and noise, from a restored state: what
  // differs is the order of floating-point sums where a kernel picks its
  // blocking by address, a float32 ulp or so, which the half-precision
  // model file rounds away or keeps as one of its ulps (2^-10 of the
  // tensor's largest value). A key bias is the exception: attention does
  // not depend on it, its exact gradient is zero, and AdamW follows the
  // rounding noise at up to the learning rate per step.
  const auto straight = all_weights(folder / "straight");
  const auto resumed = all_weights(options.output);
  ASSERT_EQ(straight.size(), resumed.size());
  for (size_t i = 0; i < straight.size(); ++i) {
    const std::string& key = straight[i].first;
    ASSERT_EQ(key, resumed[i].first);
    const at::Tensor a = straight[i].second.to(at::kFloat), b = resumed[i].second.to(at::kFloat);
    const double bound =
        key.find("to_k.bias") != std::string::npos
            ? options.transformer_lr * static_cast<double>(options.transformer_steps)
            : 2 * std::ldexp(a.abs().max().item<double>(), -10);
    EXPECT_LE((a - b).abs().max().item<double>(), bound) << key;
  }
}

TEST(TrainBuiltin, ContinuesFromAModelFolderOfItsShape) {
  const TempFolder folder;
  const TrainOptions first = tiny_options(folder, "first");
  train_builtin(first, {});
  TrainOptions more = tiny_options(folder, "more");
  more.init_from = first.output;
  more.vae_steps = 0;  // the VAE kept as it is
  EXPECT_TRUE(train_builtin(more, {}).finished);
  const auto before = all_weights(first.output), after = all_weights(more.output);
  ASSERT_EQ(before.size(), after.size());
  int moved = 0;
  for (size_t i = 0; i < before.size(); ++i) {
    ASSERT_EQ(before[i].first, after[i].first);
    const bool same = at::equal(before[i].second, after[i].second);
    if (before[i].first.rfind("vae/", 0) == 0)
      EXPECT_TRUE(same) << before[i].first;
    else
      moved += same ? 0 : 1;
  }
  EXPECT_GT(moved, 0);

  TrainOptions other = tiny_options(folder, "other");
  other.init_from = first.output;
  other.shape.layers = 2;
  EXPECT_THROW(train_builtin(other, {}), FileError);
}

TEST(TrainBuiltin, RefusesBadOptionsAForeignCheckpointAndAnExistingOutput) {
  const TempFolder folder;
  TrainOptions options = tiny_options(folder, "model");
  options.vae_steps = 0;
  EXPECT_THROW(train_builtin(options, {}), UsageError);
  options = tiny_options(folder, "model");
  options.shape.image_size = 18;
  EXPECT_THROW(train_builtin(options, {}), UsageError);

  options = tiny_options(folder, "model");
  std::atomic<bool> stop{true};
  EXPECT_FALSE(train_builtin(options, {}, &stop).finished);
  options.seed = 2;
  try {
    train_builtin(options, {});
    FAIL() << "a checkpoint of other options was resumed";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("other options"), std::string::npos) << e.what();
  }
  std::filesystem::create_directories(folder / "taken");
  options = tiny_options(folder, "taken");
  EXPECT_THROW(train_builtin(options, {}), FileError);
}

}  // namespace
}  // namespace xdit::train
