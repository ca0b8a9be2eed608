#include "schedulers/scheduler.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.hpp"
#include "io/reference_vector.hpp"
#include "schedulers/euler_discrete.hpp"
#include "schedulers/flow_match_euler_discrete.hpp"
#include "schedulers/scheduler_config.hpp"
#include "schedulers/timestep_spacing.hpp"
#include "support/reference_check.hpp"
#include "support/rounding.hpp"

namespace xdit::schedulers {
namespace {

const std::string kGoldenDir = std::string(XDIT_TEST_DATA_DIR) + "/golden/";

using xdit::testing::rounding_bound;

io::Config config_from(const std::string& json) {
  return io::Config(io::parse_json(json, "test"), "scheduler_config.json");
}

void expect_golden(const std::string& name, int64_t product_chain = 0) {
  xdit::testing::expect_matches_reference(kGoldenDir + name + ".safetensors", product_chain);
}

// DDPM-style schedules: their tables come from the alphas' cumulative
// product over num_train_timesteps (1000 in both vectors).
constexpr int64_t kAlphasCumprod = 1000;

TEST(SchedulerGolden, DpmSolverPixArt) {
  expect_golden("scheduler_dpmpp_pixart", kAlphasCumprod);
}
TEST(SchedulerGolden, Ddim) {
  expect_golden("scheduler_ddim", kAlphasCumprod);
}
TEST(SchedulerGolden, FlowMatchSd3) {
  expect_golden("scheduler_flowmatch_sd3");
}
TEST(SchedulerGolden, FlowMatchFlux) {
  expect_golden("scheduler_flowmatch_flux");
}

TEST(SchedulerGolden, CalculateShiftGivesTheFluxVectorsMu) {
  const io::ReferenceVector vector(kGoldenDir + "scheduler_flowmatch_flux.safetensors");
  const FlowMatchEulerDiscreteScheduler scheduler(vector.config());
  const int64_t seq_len = vector.input("image_seq_len").item<int64_t>();
  EXPECT_DOUBLE_EQ(scheduler.dynamic_shift_mu(seq_len), vector.input("mu").item<double>());
  EXPECT_DOUBLE_EQ(calculate_shift(256, 256, 4096, 0.5, 1.15), 0.5);
  // A line through two points in float64: a few roundings of terms below 2.
  const double line = rounding_bound(8, 2.0, xdit::testing::kFloat64Unit);
  EXPECT_NEAR(calculate_shift(4096, 256, 4096, 0.5, 1.15), 1.15, line);
  EXPECT_NEAR(calculate_shift(4096), 1.16, line);
}

// Stepping the whole latent, or each of several row bands with its own state
// (as PipeFusion steps patches), must give bit-identical results.
void expect_patchwise_equals_whole(const std::string& json, int64_t steps) {
  const auto scheduler = make_scheduler(config_from(json));
  scheduler->set_timesteps({steps, {}, std::nullopt});
  at::manual_seed(7);
  const at::Tensor initial = at::randn({2, 4, 8, 6});
  const at::Tensor outputs = at::randn({steps, 2, 4, 8, 6});
  const int64_t bands[][2] = {{0, 3}, {3, 4}, {4, 8}};

  at::Tensor whole = initial.clone();
  SchedulerState whole_state;
  at::Tensor patched = initial.clone();
  std::vector<SchedulerState> patch_states(std::size(bands));
  for (int64_t i = 0; i < steps; ++i) {
    whole = scheduler->step(outputs[i], i, whole, whole_state);
    std::vector<at::Tensor> pieces;
    for (size_t p = 0; p < std::size(bands); ++p) {
      const auto [begin, end] = bands[p];
      pieces.push_back(scheduler->step(outputs[i].slice(2, begin, end), i,
                                       patched.slice(2, begin, end), patch_states[p]));
    }
    patched = at::cat(pieces, 2);
    ASSERT_TRUE(at::equal(whole, patched)) << json << " differs at step " << i;
  }
}

TEST(SchedulerPatches, DpmSolverSecondOrderMatchesWholeLatent) {
  expect_patchwise_equals_whole(R"({"_class_name": "DPMSolverMultistepScheduler"})", 12);
}

TEST(SchedulerPatches, DpmSolverThirdOrderHeunMatchesWholeLatent) {
  expect_patchwise_equals_whole(
      R"({"_class_name": "DPMSolverMultistepScheduler", "solver_order": 3, "solver_type": "heun",
          "prediction_type": "v_prediction", "final_sigmas_type": "sigma_min"})",
      16);
}

TEST(SchedulerPatches, OtherSchedulersMatchWholeLatent) {
  expect_patchwise_equals_whole(R"({"_class_name": "DDIMScheduler"})", 6);
  expect_patchwise_equals_whole(R"({"_class_name": "EulerDiscreteScheduler"})", 6);
  expect_patchwise_equals_whole(R"({"_class_name": "FlowMatchEulerDiscreteScheduler",
                                    "shift": 3.0})",
                                6);
}

TEST(DpmSolver, ClipsTheCosineScheduleAtLambdaMin) {
  const auto scheduler = make_scheduler(config_from(
      R"({"_class_name": "DPMSolverMultistepScheduler", "beta_schedule": "squaredcos_cap_v2",
          "lambda_min_clipped": -5.1, "timestep_spacing": "trailing"})"));
  scheduler->set_timesteps({10, {}, std::nullopt});
  const at::Tensor timesteps = scheduler->timesteps();
  ASSERT_EQ(timesteps.scalar_type(), at::kLong);
  // Unclipped, trailing spacing would start at 999.
  EXPECT_LT(timesteps[0].item<int64_t>(), 999);
  EXPECT_GT(timesteps[0].item<int64_t>(), 900);
  EXPECT_TRUE(at::all(timesteps.slice(0, 1) < timesteps.slice(0, 0, -1)).item<bool>());
}

TEST(DpmSolver, KarrasSigmasSpanTheTrainingRange) {
  const auto scheduler = make_scheduler(config_from(
      R"({"_class_name": "DPMSolverMultistepScheduler", "use_karras_sigmas": true,
          "final_sigmas_type": "sigma_min"})"));
  scheduler->set_timesteps({8, {}, std::nullopt});
  const at::Tensor sigmas = *scheduler->sigmas();
  const at::Tensor training =
      at::sqrt((1 - *scheduler->alphas_cumprod()) / *scheduler->alphas_cumprod());
  ASSERT_EQ(sigmas.size(0), 9);
  // Both from the same float32 alphas_cumprod: sqrt((1 - a) / a) in float32
  // (1 - a is exact for a near 1, and well conditioned for a near 0) against
  // the Karras ramp's ends in float64, rounded once: 8 roundings.
  const double first = training[-1].item<double>();
  const double last = training[0].item<double>();
  EXPECT_NEAR(sigmas[0].item<double>(), first, rounding_bound(8, first));
  EXPECT_NEAR(sigmas[7].item<double>(), last, rounding_bound(8, last));
  EXPECT_EQ(scheduler->timesteps()[0].item<int64_t>(), 999);
  EXPECT_EQ(scheduler->timesteps()[7].item<int64_t>(), 0);
}

TEST(SchedulerState, RefusesStepsOutOfOrder) {
  const auto scheduler = make_scheduler(config_from(R"({"_class_name": "DDIMScheduler"})"));
  const at::Tensor x = at::zeros({1, 4, 2, 2});
  SchedulerState state;
  EXPECT_THROW(scheduler->step(x, 0, x, state), UsageError);  // before set_timesteps
  scheduler->set_timesteps({5, {}, std::nullopt});
  scheduler->step(x, 0, x, state);
  EXPECT_THROW(scheduler->step(x, 2, x, state), UsageError);
  EXPECT_THROW(scheduler->step(x, 5, x, state), UsageError);
  EXPECT_THROW(scheduler->step(x, 1, at::zeros({1, 4, 2, 3}), state), UsageError);
  SchedulerState img2img;
  EXPECT_NO_THROW(scheduler->step(x, 3, x, img2img));
  EXPECT_THROW(scheduler->set_timesteps({2000, {}, std::nullopt}), UsageError);
}

TEST(SchedulerFactory, BuildsByClassNameOrOverride) {
  const auto pixart = config_from(
      R"({"_class_name": "DPMSolverMultistepScheduler", "lambda_min_clipped": -Infinity,
          "solver_order": 2, "timestep_spacing": "linspace"})");
  EXPECT_STREQ(make_scheduler(pixart)->class_name(), "DPMSolverMultistepScheduler");
  const auto euler = make_scheduler(pixart, "EulerDiscreteScheduler");
  EXPECT_STREQ(euler->class_name(), "EulerDiscreteScheduler");
  euler->set_timesteps({10, {}, std::nullopt});
  EXPECT_EQ(euler->num_inference_steps(), 10);
  EXPECT_EQ(supported_scheduler_classes().size(), 4u);
}

TEST(SchedulerFactory, UnknownClassNamesTheKeyAndTheSupportedOnes) {
  try {
    make_scheduler(config_from(R"({"_class_name": "PNDMScheduler"})"));
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("_class_name"), std::string::npos) << message;
    EXPECT_NE(message.find("PNDMScheduler"), std::string::npos) << message;
    for (const auto& name : supported_scheduler_classes()) {
      EXPECT_NE(message.find(name), std::string::npos) << message;
    }
  }
  EXPECT_THROW(make_scheduler(config_from("{}")), ConfigError);
  EXPECT_THROW(make_scheduler(config_from("{}"), "LMSDiscreteScheduler"), UsageError);
}

void expect_config_error(const std::string& json, const std::string& key) {
  try {
    make_scheduler(config_from(json));
    FAIL() << "expected a ConfigError for " << json;
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("'" + key + "'"), std::string::npos) << e.what();
  }
}

TEST(SchedulerConfigErrors, NameTheOffendingKey) {
  expect_config_error(R"({"_class_name": "DDIMScheduler", "beta_schedule": "cosine"})",
                      "beta_schedule");
  expect_config_error(R"({"_class_name": "DDIMScheduler", "thresholding": true})", "thresholding");
  expect_config_error(R"({"_class_name": "DDIMScheduler", "trained_betas": [0.1, 0.2]})",
                      "trained_betas");
  expect_config_error(R"({"_class_name": "DPMSolverMultistepScheduler", "solver_order": 4})",
                      "solver_order");
  expect_config_error(
      R"({"_class_name": "DPMSolverMultistepScheduler", "algorithm_type": "sde-dpmsolver++"})",
      "algorithm_type");
  expect_config_error(
      R"({"_class_name": "DPMSolverMultistepScheduler", "variance_type": "learned_range"})",
      "variance_type");
  expect_config_error(R"({"_class_name": "EulerDiscreteScheduler", "timestep_spacing": "even"})",
                      "timestep_spacing");
  expect_config_error(
      R"({"_class_name": "EulerDiscreteScheduler", "interpolation_type": "log_linear"})",
      "interpolation_type");
  expect_config_error(R"({"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": "big"})",
                      "shift");
}

TEST(SchedulerConfigReader, KeysMarkedAsDefaultedTakeThisClassDefault) {
  const SchedulerConfig config(config_from(
      R"({"clip_sample": false, "steps_offset": 1, "_use_default_values": ["clip_sample"]})"));
  EXPECT_TRUE(config.get_or<bool>("clip_sample", true));
  EXPECT_EQ(config.get_or<int64_t>("steps_offset", 0), 1);
}

TEST(FlowMatch, DynamicShiftingNeedsMu) {
  const auto scheduler = make_scheduler(config_from(
      R"({"_class_name": "FlowMatchEulerDiscreteScheduler", "use_dynamic_shifting": true})"));
  EXPECT_THROW(scheduler->set_timesteps({4, {}, std::nullopt}), UsageError);
  scheduler->set_timesteps({0, {1.0, 0.5}, 0.0});
  // mu = 0 leaves the sigmas as given.
  EXPECT_FLOAT_EQ(scheduler->sigmas()->index({1}).item<float>(), 0.5f);
  EXPECT_FLOAT_EQ(scheduler->timesteps()[1].item<float>(), 500.0f);
}

// A four-step training schedule small enough to follow by hand:
// betas 0.1..0.4, alphas_cumprod 0.9, 0.72, 0.504, 0.3024.
constexpr const char* kTinyEuler =
    R"({"_class_name": "EulerDiscreteScheduler", "num_train_timesteps": 4,
        "beta_start": 0.1, "beta_end": 0.4, "beta_schedule": "linear")";

double vp_sigma(double alphas_cumprod) {
  return std::sqrt((1 - alphas_cumprod) / alphas_cumprod);
}

TEST(EulerByHand, LinspaceInterpolatesSigmasAndStepsAlongTheDerivative) {
  EulerDiscreteScheduler scheduler(config_from(std::string(kTinyEuler) + "}"));
  scheduler.set_timesteps({3, {}, std::nullopt});
  // linspace(0, 3, 3) reversed: t = 3, 1.5, 0; sigma(1.5) is the mean of sigma(1) and sigma(2).
  const double s3 = vp_sigma(0.3024);
  const double s15 = (vp_sigma(0.72) + vp_sigma(0.504)) / 2;
  const double s0 = vp_sigma(0.9);
  // The scheduler's alphas_cumprod are a float32 cumulative product of at
  // most 4 factors 1 - beta (8 roundings); sqrt((1 - a) / a) amplifies their
  // error at most 5-fold (a ≤ 0.9: 1 - a amplifies it by a / (1 - a) ≤ 9,
  // the root halves it), and adds a quotient, a root, the interpolation and
  // the rounding to float32: 48 roundings bound every value below, of the
  // magnitude of the terms it adds up.
  constexpr int64_t kRoundings = 48;
  const auto near = [](double value, double magnitude = 0) {
    return rounding_bound(kRoundings, std::max(std::abs(value), magnitude));
  };
  const at::Tensor timesteps = scheduler.timesteps();
  ASSERT_EQ(timesteps.scalar_type(), at::kFloat);
  EXPECT_FLOAT_EQ(timesteps[0].item<float>(), 3.0f);
  EXPECT_FLOAT_EQ(timesteps[1].item<float>(), 1.5f);
  EXPECT_FLOAT_EQ(timesteps[2].item<float>(), 0.0f);
  const at::Tensor sigmas = *scheduler.sigmas();
  ASSERT_EQ(sigmas.size(0), 4);
  EXPECT_NEAR(sigmas[0].item<double>(), s3, near(s3));
  EXPECT_NEAR(sigmas[1].item<double>(), s15, near(s15));
  EXPECT_NEAR(sigmas[2].item<double>(), s0, near(s0));
  EXPECT_EQ(sigmas[3].item<double>(), 0.0);
  EXPECT_NEAR(scheduler.init_noise_sigma(), s3, near(s3));

  const at::Tensor x = at::full({1, 1, 2, 2}, 1.0);
  const at::Tensor eps = at::full({1, 1, 2, 2}, 0.5);
  EXPECT_NEAR(scheduler.scale_model_input(x, 0)[0][0][0][0].item<double>(),
              1.0 / std::sqrt(s3 * s3 + 1), near(1.0));
  SchedulerState state;
  // Epsilon: x0 = x - sigma·eps, so the derivative is eps and x moves by eps·(sigma' - sigma).
  const at::Tensor x1 = scheduler.step(eps, 0, x, state);
  const double terms = 1.0 + s3 + s15 + s0;  // of every step's sums
  EXPECT_NEAR(x1[0][0][1][1].item<double>(), 1.0 + 0.5 * (s15 - s3), near(0, terms));
  const at::Tensor x2 = scheduler.step(eps, 1, x1, state);
  EXPECT_NEAR(x2[0][0][0][1].item<double>(), 1.0 + 0.5 * (s0 - s3), near(0, terms));
  const at::Tensor x3 = scheduler.step(eps, 2, x2, state);
  EXPECT_NEAR(x3[0][0][0][0].item<double>(), 1.0 - 0.5 * s3, near(0, terms));
}

TEST(EulerByHand, LeadingSpacingAndVPrediction) {
  EulerDiscreteScheduler scheduler(config_from(
      std::string(kTinyEuler) +
      R"(, "timestep_spacing": "leading", "steps_offset": 1, "prediction_type": "v_prediction"})"));
  scheduler.set_timesteps({2, {}, std::nullopt});
  // leading: ratio 4 // 2 = 2, timesteps (2, 0) + 1 = (3, 1).
  EXPECT_FLOAT_EQ(scheduler.timesteps()[0].item<float>(), 3.0f);
  EXPECT_FLOAT_EQ(scheduler.timesteps()[1].item<float>(), 1.0f);
  const double s3 = vp_sigma(0.3024);
  const double s1 = vp_sigma(0.72);
  // As above: 48 roundings of the magnitude of the terms.
  constexpr int64_t kRoundings = 48;
  EXPECT_NEAR(scheduler.init_noise_sigma(), std::sqrt(s3 * s3 + 1),
              rounding_bound(kRoundings, std::sqrt(s3 * s3 + 1)));

  // v-prediction: x0 = v·(-sigma/sqrt(sigma²+1)) + x/(sigma²+1).
  const double x = 2.0;
  const double v = -0.25;
  const double x0 = v * (-s3 / std::sqrt(s3 * s3 + 1)) + x / (s3 * s3 + 1);
  const double expected = x + (x - x0) / s3 * (s1 - s3);
  SchedulerState state;
  const at::Tensor next = scheduler.step(at::full({1, 3}, v), 0, at::full({1, 3}, x), state);
  const double terms = x + std::abs(x0) + std::abs((x - x0) / s3 * (s1 - s3));
  EXPECT_NEAR(next[0][2].item<double>(), expected, rounding_bound(kRoundings, terms));
}

TEST(TimestepSpacing, FollowsNumpy) {
  const auto linspace = numpy_linspace(0, 999, 21);
  EXPECT_EQ(linspace.front(), 0.0);
  EXPECT_EQ(linspace.back(), 999.0);
  EXPECT_DOUBLE_EQ(linspace[1], 49.95);
  EXPECT_EQ(numpy_round(0.5), 0.0);
  EXPECT_EQ(numpy_round(1.5), 2.0);
  EXPECT_EQ(numpy_round(2.5), 2.0);
  // trailing, 1000 train steps, 4 steps: 1000, 750, 500, 250 → minus one.
  const auto trailing = spaced_timesteps(TimestepSpacing::kTrailing, 4, 1000, 1000, 0);
  EXPECT_EQ(trailing, (std::vector<double>{999, 749, 499, 249}));
  const auto leading = spaced_timesteps(TimestepSpacing::kLeading, 4, 1000, 1000, 1);
  EXPECT_EQ(leading, (std::vector<double>{751, 501, 251, 1}));
  EXPECT_EQ(interp_on_index_grid({0.25, 2.0, 5.0, -1.0}, {1.0, 3.0, 7.0}),
            (std::vector<double>{1.5, 7.0, 7.0, 1.0}));
  const auto karras = karras_sigmas(0.1, 10.0, 3);
  // float64 (s_max^(1/7) + ramp (s_min^(1/7) - s_max^(1/7)))^7: the power 7
  // multiplies the inner value's few roundings by 7.
  EXPECT_NEAR(karras.front(), 10.0, rounding_bound(32, 10.0, xdit::testing::kFloat64Unit));
  EXPECT_NEAR(karras.back(), 0.1, rounding_bound(32, 0.1, xdit::testing::kFloat64Unit));
}

}  // namespace
}  // namespace xdit::schedulers
