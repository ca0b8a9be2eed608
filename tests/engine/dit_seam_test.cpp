// Every DiT family through the seam the runners use (models/dit.hpp): the
// whole model from a latent as the pipeline holds it, and pipeline stages
// (embedding, ranges of the list of layers, output) that compose to it. The
// reference vectors give the weights and inputs; the seam's results are
// held to the vectors' outputs and to the whole model within float32's
// rounding, measured against float64 (support/rounding.hpp).

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "core/error.hpp"
#include "core/torch_compat.hpp"
#include "io/reference_vector.hpp"
#include "models/dit_loader.hpp"
#include "support/rounding.hpp"

namespace xdit::models {
namespace {

using xdit::testing::bound_ratio;
using xdit::testing::max_difference;
using xdit::testing::measured_reorder_bound;

struct SeamCase {
  const char* vector;
  // The stages of the list of layers for the composition test.
  std::vector<int64_t> stage_ends;
};

std::ostream& operator<<(std::ostream& out, const SeamCase& c) {
  return out << c.vector;
}

// One family's model, the latent as the pipeline holds it, the timestep as
// the scheduler gives it and the other inputs, from a reference vector.
struct Loaded {
  io::ReferenceVector vector;
  DitFamily family;
  at::Tensor latent;
  at::Tensor timestep;
  DitInputs inputs;
  at::Tensor expected;  // the vector's output as a latent

  explicit Loaded(const std::string& name)
      : vector(std::filesystem::path(XDIT_TEST_DATA_DIR) / "golden" / (name + ".safetensors")),
        family(dit_family(vector.class_name(), name)) {
    inputs.text = vector.input("encoder_hidden_states");
    timestep = vector.input("timestep");
    expected = vector.output("sample");
    latent = family == DitFamily::kFlux ? vector.aux("latents") : vector.input("hidden_states");
    if (family != DitFamily::kPixArt)
      inputs.pooled_text = vector.input("pooled_projections");
    if (family == DitFamily::kFlux) {
      // The model takes sigma; the scheduler gives sigma * 1000.
      timestep = timestep * 1000;
      expected = vector.aux("sample_unpacked");
      if (vector.has_input("guidance"))
        inputs.guidance = vector.input("guidance");
    }
  }

  std::unique_ptr<DiffusionTransformer> load(at::ScalarType dtype, const DitStage& stage = {}) {
    return load_dit(family, vector.config(), vector.weights(dtype), stage);
  }
};

class DitSeam : public ::testing::TestWithParam<SeamCase> {};

TEST_P(DitSeam, PredictFromTheLatentMatchesTheVector) {
  const compat::InferenceGuard no_grad;
  Loaded loaded(GetParam().vector);
  const at::Tensor f32 =
      loaded.load(at::kFloat)->predict(loaded.latent, loaded.timestep, loaded.inputs);
  const at::Tensor f64 =
      loaded.load(at::kDouble)->predict(loaded.latent, loaded.timestep, loaded.inputs);
  ASSERT_EQ(f32.sizes(), loaded.expected.sizes());
  EXPECT_LE(max_difference(f32, loaded.expected), measured_reorder_bound(f32, f64));
}

TEST_P(DitSeam, StagesComposeToTheWholeModel) {
  const compat::InferenceGuard no_grad;
  Loaded loaded(GetParam().vector);
  const auto whole = loaded.load(at::kFloat);
  const at::Tensor expected = whole->predict(loaded.latent, loaded.timestep, loaded.inputs);
  const at::Tensor expected64 =
      loaded.load(at::kDouble)->predict(loaded.latent, loaded.timestep, loaded.inputs);

  const PatchRows grid = whole->patch_grid(loaded.latent.size(2), loaded.latent.size(3));
  const TokenSpan span = TokenSpan::whole(grid);
  const std::vector<int64_t>& ends = GetParam().stage_ends;
  LocalAttention local;
  DitHidden hidden;
  at::Tensor out;
  int64_t first = 0;
  for (size_t s = 0; s < ends.size(); ++s) {
    DitStage stage{first, ends[s], s == 0, s + 1 == ends.size()};
    const auto part = loaded.load(at::kFloat, stage);
    EXPECT_FALSE(part->stage().is_whole(whole->shape().num_layers));
    EXPECT_LT(part->parameter_bytes(), whole->parameter_bytes());
    const auto step = part->condition(loaded.timestep, loaded.inputs);
    if (s == 0) {
      hidden = part->embed(loaded.latent, span, *step);
    } else {
      // Only the first stage embeds, only the last finishes.
      EXPECT_THROW(part->embed(loaded.latent, span, *step), UsageError);
    }
    EXPECT_EQ(step->text_tokens(),
              loaded.family == DitFamily::kPixArt ? 0 : loaded.inputs.text.size(1));
    hidden = part->run_blocks(hidden, span, *step, local);
    if (s + 1 == ends.size()) {
      out = part->finish(hidden.image, *step, grid);
    } else {
      EXPECT_THROW(part->output_patches(hidden.image, *step), UsageError);
    }
    first = ends[s];
  }
  EXPECT_LE(max_difference(out, expected), measured_reorder_bound(expected, expected64));
}

TEST_P(DitSeam, RefusesALatentOfAnotherShape) {
  const compat::InferenceGuard no_grad;
  Loaded loaded(GetParam().vector);
  const auto model = loaded.load(at::kFloat);
  const at::Tensor odd = at::zeros({loaded.latent.size(0), model->shape().latent_channels, 7, 8});
  EXPECT_THROW(model->predict(odd, loaded.timestep, loaded.inputs), UsageError);
  const at::Tensor channels = at::zeros({loaded.latent.size(0), 3, 8, 8});
  EXPECT_THROW(model->predict(channels, loaded.timestep, loaded.inputs), UsageError);
  const at::Tensor more = at::cat({loaded.latent, loaded.latent});
  EXPECT_THROW(model->predict(more, loaded.timestep, loaded.inputs), UsageError);
}

INSTANTIATE_TEST_SUITE_P(Families, DitSeam,
                         ::testing::Values(SeamCase{"pixart_sigma_tiny", {1, 2}},
                                           SeamCase{"sd35_tiny", {1, 2, 3}},
                                           SeamCase{"flux_tiny", {1, 2, 3}},
                                           // The middle stage holds the last double block
                                           // and the first single block.
                                           SeamCase{"flux_tiny_schnell", {1, 3, 4}}),
                         [](const auto& info) { return std::string(info.param.vector); });

}  // namespace
}  // namespace xdit::models
