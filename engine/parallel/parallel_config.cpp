#include "parallel/parallel_config.hpp"

#include <numeric>
#include <sstream>

#include "core/error.hpp"
#include "parallel/pipefusion_layout.hpp"

namespace xdit::parallel {
namespace {

struct Degree {
  const char* name;
  const char* flag;
  int value;
};

// In the order users read a mesh: slowest-varying rank dimension first.
std::vector<Degree> degrees_of(const ParallelConfig& c) {
  std::vector<Degree> degrees = {
      {"data", "--data_parallel_degree", c.data_degree},
      {"cfg", "--use_cfg_parallel", c.cfg_degree},
      {"pipefusion", "--pipefusion_parallel_degree", c.pipefusion_degree},
      {"ulysses", "--ulysses_degree", c.ulysses_degree},
      {"ring", "--ring_degree", c.ring_degree},
      {"tensor", "--tensor_parallel_degree", c.tensor_degree}};
  // Only shown when used, so that messages about the exact methods stay short.
  if (c.distrifusion_degree != 1) {
    degrees.insert(degrees.begin() + 3,
                   {"distrifusion", "--distrifusion_degree", c.distrifusion_degree});
  }
  return degrees;
}

// "1, 2, 3, 6": the values a user can pick instead of a degree that does not divide n.
std::string divisors(int n) {
  std::string out;
  for (int d = 1; d <= n; ++d) {
    if (n % d == 0)
      out += (out.empty() ? "" : ", ") + std::to_string(d);
  }
  return out;
}

[[noreturn]] void refuse(const std::string& message) {
  throw UsageError(message);
}

void check_guidance_split(const ParallelConfig& c, const ModelFacts& facts) {
  if (c.cfg_degree != 1 && c.cfg_degree != 2) {
    refuse("cfg degree " + std::to_string(c.cfg_degree) +
           " is invalid: classifier-free guidance has two branches, so the cfg degree is 1 or 2 "
           "(--use_cfg_parallel gives 2)");
  }
  if (c.cfg_degree == 2 && facts.single_branch) {
    refuse(
        "cfg parallel (cfg degree 2) needs two guidance branches, but this model runs one "
        "(Flux: the guidance scale is an input of the model): drop --use_cfg_parallel");
  }
  if (c.cfg_degree == 2 && !facts.guidance) {
    refuse(
        "cfg parallel (cfg degree 2) needs classifier-free guidance, but guidance is off "
        "(guidance scale 1 or less): raise --guidance_scale above 1 or drop --use_cfg_parallel");
  }
  if (facts.batch % c.data_degree != 0) {
    refuse("data degree " + std::to_string(c.data_degree) + " does not divide the batch of " +
           std::to_string(facts.batch) + " images: use a --data_parallel_degree among " +
           divisors(facts.batch) + ", or generate a multiple of " + std::to_string(c.data_degree) +
           " images");
  }
}

void check_heads(const ParallelConfig& c, const ModelFacts& facts) {
  const int heads = facts.num_attention_heads;
  if (heads % c.tensor_degree != 0) {
    refuse("tensor degree " + std::to_string(c.tensor_degree) + " does not divide the " +
           std::to_string(heads) + " attention heads: use a --tensor_parallel_degree among " +
           divisors(heads));
  }
  if (facts.ffn_inner_dim % c.tensor_degree != 0) {
    refuse("tensor degree " + std::to_string(c.tensor_degree) +
           " does not divide the feed-forward width " + std::to_string(facts.ffn_inner_dim) +
           ": use a --tensor_parallel_degree that divides both it and the " +
           std::to_string(heads) + " heads");
  }
  // Tensor parallel shards the heads first; Ulysses then splits each shard.
  const int local_heads = heads / c.tensor_degree;
  if (local_heads % c.ulysses_degree != 0) {
    std::string held = std::to_string(heads) + " attention heads";
    if (c.tensor_degree > 1) {
      held = std::to_string(local_heads) + " attention heads each tensor rank holds (" +
             std::to_string(heads) + " / tensor " + std::to_string(c.tensor_degree) + ")";
    }
    refuse("ulysses degree " + std::to_string(c.ulysses_degree) + " does not divide the " + held +
           ": use a --ulysses_degree among " + divisors(local_heads) +
           ", and --ring_degree for more sequence parallelism");
  }
}

void check_sequence(const ParallelConfig& c, const ModelFacts& facts) {
  const long long tokens = static_cast<long long>(facts.latent_rows) * facts.latent_cols;
  const int sp = c.sequence_degree();
  if (tokens % sp != 0) {
    refuse("the " + std::to_string(tokens) + " image tokens (" + std::to_string(facts.latent_rows) +
           " × " + std::to_string(facts.latent_cols) +
           " patches) do not split evenly over ulysses " + std::to_string(c.ulysses_degree) +
           " × ring " + std::to_string(c.ring_degree) + " = " + std::to_string(sp) +
           " sequence ranks: make ulysses × ring divide " + std::to_string(tokens) +
           ", or change the image size");
  }
}

void check_pipeline(const ParallelConfig& c, const ModelFacts& facts) {
  const int stages = c.pipefusion_degree;
  if (c.warmup_steps < 0) {
    refuse("--warmup_steps " + std::to_string(c.warmup_steps) + " is negative");
  }
  if (stages > facts.num_layers) {
    refuse("pipefusion degree " + std::to_string(stages) + " exceeds the " +
           std::to_string(facts.num_layers) +
           " transformer layers: each stage needs at least one layer; use a "
           "--pipefusion_parallel_degree of at most " +
           std::to_string(facts.num_layers));
  }
  if (!c.attn_layer_num_for_pp.empty()) {
    if (stages == 1) {
      refuse(
          "--attn_layer_num_for_pp applies to PipeFusion stages: set --pipefusion_parallel_degree "
          "above 1 or drop it");
    }
    if (static_cast<int>(c.attn_layer_num_for_pp.size()) != stages) {
      refuse("--attn_layer_num_for_pp lists " + std::to_string(c.attn_layer_num_for_pp.size()) +
             " stages, but the pipefusion degree is " + std::to_string(stages) +
             ": give one layer count per stage");
    }
    for (int layers : c.attn_layer_num_for_pp) {
      if (layers < 1) {
        refuse("--attn_layer_num_for_pp has a stage with " + std::to_string(layers) +
               " layers: every stage needs at least one");
      }
    }
    const int total =
        std::accumulate(c.attn_layer_num_for_pp.begin(), c.attn_layer_num_for_pp.end(), 0);
    if (total != facts.num_layers) {
      refuse("--attn_layer_num_for_pp adds up to " + std::to_string(total) +
             " layers, but the transformer has " + std::to_string(facts.num_layers));
    }
  }
  if (c.num_pipeline_patch && stages == 1 && *c.num_pipeline_patch != 1) {
    refuse("--num_pipeline_patch " + std::to_string(*c.num_pipeline_patch) +
           " applies to PipeFusion: set --pipefusion_parallel_degree above 1 or drop it");
  }
  if (stages == 1)
    return;
  if (c.ring_degree > 1) {
    // Each rank's stale K/V buffers hold its heads over the whole sequence,
    // which Ulysses gives it; a ring would split them by tokens instead.
    refuse("pipefusion does not combine with ring attention (ring degree " +
           std::to_string(c.ring_degree) +
           "): set --ring_degree 1 and use --ulysses_degree for sequence parallelism");
  }
  const int patches = c.pipeline_patches();
  if (patches < stages) {
    refuse("--num_pipeline_patch " + std::to_string(patches) + " is fewer than the " +
           std::to_string(stages) +
           " pipefusion stages: every stage needs a patch to work on; use at least " +
           std::to_string(stages) + " patches");
  }
  if (patches > facts.latent_rows) {
    refuse("--num_pipeline_patch " + std::to_string(patches) + " exceeds the " +
           std::to_string(facts.latent_rows) +
           " latent rows (in patches): a patch is at least one row; use at most " +
           std::to_string(facts.latent_rows) + " patches or a taller image");
  }
  // Ulysses splits each patch's tokens (uneven patches are one row taller
  // at the top) over its ranks.
  for (const int64_t rows : patch_heights(facts.latent_rows, patches)) {
    const int64_t tokens = rows * facts.latent_cols;
    if (tokens % c.ulysses_degree != 0) {
      refuse("a pipeline patch of " + std::to_string(rows) + " latent rows (" +
             std::to_string(tokens) + " tokens) does not split over ulysses " +
             std::to_string(c.ulysses_degree) +
             " ranks: pick a --num_pipeline_patch that divides the " +
             std::to_string(facts.latent_rows) + " rows into bands whose tokens ulysses divides");
    }
  }
}

void check_distrifusion(const ParallelConfig& c, const ModelFacts& facts) {
  const int degree = c.distrifusion_degree;
  if (degree == 1)
    return;
  // DistriFusion gives each rank a whole model and a displaced patch; the
  // other model- and sequence-splitting methods would split that again.
  for (const Degree& other : degrees_of(c)) {
    const std::string name = other.name;
    if (other.value > 1 && name != "data" && name != "cfg" && name != "distrifusion") {
      refuse("distrifusion degree " + std::to_string(degree) +
             " combines only with cfg and data parallel, not with " + name + " " +
             std::to_string(other.value) + ": set " + other.flag + " to 1 or drop DistriFusion");
    }
  }
  // Equal bands, so that the K/V gathers are plain all-gathers.
  if (facts.latent_rows % degree != 0) {
    refuse("distrifusion degree " + std::to_string(degree) + " does not divide the " +
           std::to_string(facts.latent_rows) +
           " latent rows (in patches): each rank takes an equal band of rows; choose a "
           "--distrifusion_degree that divides them, or another image height");
  }
}

}  // namespace

long long ParallelConfig::product() const {
  long long n = 1;
  for (const Degree& d : degrees_of(*this))
    n *= d.value;
  return n;
}

std::string ParallelConfig::describe() const {
  std::string out;
  for (const Degree& d : degrees_of(*this)) {
    out += (out.empty() ? "" : " × ") + std::string(d.name) + " " + std::to_string(d.value);
  }
  return out;
}

std::string ParallelConfig::label() const {
  std::string out;
  for (const Degree& d : degrees_of(*this)) {
    if (d.value == 1)
      continue;
    if (!out.empty())
      out += " × ";
    out += d.name;
    out += ' ';
    out += std::to_string(d.value);
    if (d.name == std::string("pipefusion")) {
      out += " (" + std::to_string(pipeline_patches()) + " patches, warm-up " +
             std::to_string(warmup_steps) + ")";
    } else if (d.name == std::string("distrifusion")) {
      out += " (warm-up " + std::to_string(warmup_steps) + ")";
    }
  }
  return out.empty() ? "serial" : out;
}

std::string ParallelConfig::flags() const {
  std::string out;
  const auto add = [&](const std::string& flag) { out += (out.empty() ? "" : " ") + flag; };
  for (const Degree& d : degrees_of(*this)) {
    if (d.value == 1)
      continue;
    std::string flag = d.flag;
    if (d.name != std::string("cfg")) {
      flag += ' ';
      flag += std::to_string(d.value);
    }
    add(flag);
  }
  if (pipefusion_degree > 1 && num_pipeline_patch)
    add("--num_pipeline_patch " + std::to_string(*num_pipeline_patch));
  if (pipefusion_degree > 1 || distrifusion_degree > 1)
    add("--warmup_steps " + std::to_string(warmup_steps));
  return out;
}

void check_degrees(const ParallelConfig& config, int world_size) {
  for (const Degree& d : degrees_of(config)) {
    if (d.value < 1) {
      refuse(std::string(d.name) + " degree " + std::to_string(d.value) +
             " is invalid: every degree is at least 1 (" + d.flag + ")");
    }
  }
  if (world_size < 1)
    refuse("the group needs at least one process, not " + std::to_string(world_size));
  const long long product = config.product();
  if (product != world_size) {
    refuse(config.describe() + " = " + std::to_string(product) + ", but " +
           std::to_string(world_size) + (world_size == 1 ? " process" : " processes") +
           ": the degrees must multiply to the number of processes; use --nproc " +
           std::to_string(product) + " or " + (product > world_size ? "lower" : "raise") +
           " a degree");
  }
}

void validate(const ParallelConfig& config, int world_size, const ModelFacts& facts) {
  check_degrees(config, world_size);
  check_guidance_split(config, facts);
  check_heads(config, facts);
  check_sequence(config, facts);
  check_pipeline(config, facts);
  check_distrifusion(config, facts);
}

}  // namespace xdit::parallel
