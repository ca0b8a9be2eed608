#pragma once
// How one generation is spread over processes: a degree per parallel method,
// and the check that a combination can run on a given model and request.
// The check runs in the launcher, before any process starts, so every refusal
// names what to change (the xDiT command-line flag and a value that works).

#include <optional>
#include <string>
#include <vector>

namespace xdit::parallel {

struct ParallelConfig {
  int data_degree = 1;        // --data_parallel_degree: prompts/images split across ranks
  int cfg_degree = 1;         // --use_cfg_parallel: 2 runs the two guidance branches apart
  int pipefusion_degree = 1;  // --pipefusion_parallel_degree: layer stages
  // --num_pipeline_patch; unset means one patch per stage, as in xDiT.
  std::optional<int> num_pipeline_patch;
  int warmup_steps = 1;  // --warmup_steps: synchronous steps before stale activations
  // --attn_layer_num_for_pp: layers per stage; empty splits the layers evenly.
  std::vector<int> attn_layer_num_for_pp;
  int ulysses_degree = 1;         // --ulysses_degree
  int ring_degree = 1;            // --ring_degree
  int tensor_degree = 1;          // --tensor_parallel_degree
  int distrifusion_degree = 1;    // --distrifusion_degree: displaced patches
  bool use_parallel_vae = false;  // --use_parallel_vae

  int sequence_degree() const { return ulysses_degree * ring_degree; }
  // The number of processes the degrees describe.
  long long product() const;
  int pipeline_patches() const { return num_pipeline_patch.value_or(pipefusion_degree); }
  // "data 1 × cfg 2 × pipefusion 1 × ulysses 2 × ring 1 × tensor 1", as users see it.
  std::string describe() const;
  // The degrees above 1 only, with PipeFusion's patches and the stale
  // methods' warm-up steps: "ulysses 2 × ring 2", "pipefusion 2 (4 patches,
  // warm-up 1)"; "serial" for none. Tables and chart labels.
  std::string label() const;
  // The `xdit generate` flags of the degrees above 1 ("--use_cfg_parallel
  // --ulysses_degree 2"), with PipeFusion's patches and the warm-up steps
  // of the stale methods; empty for serial.
  std::string flags() const;
};

// What the check needs to know of the model and of the request.
struct ModelFacts {
  int num_attention_heads = 1;
  int ffn_inner_dim = 1;  // feed-forward hidden width, split by tensor parallel
  int num_layers = 1;     // transformer blocks, split by PipeFusion
  int latent_rows = 1;    // latent height in patches (token rows)
  int latent_cols = 1;    // latent width in patches
  int batch = 1;          // images per request (prompts × images per prompt)
  bool guidance = false;  // classifier-free guidance on (guidance scale > 1)
  // The model has no unconditional branch to split off (Flux: guidance is
  // an input of dev, and schnell has none).
  bool single_branch = false;
};

// Throws UsageError unless every degree is at least 1 and their product is
// `world_size`. The Mesh needs no more than this.
void check_degrees(const ParallelConfig& config, int world_size);

// check_degrees, then every rule that the model and request impose. Throws
// UsageError naming the first rule broken and what to change.
void validate(const ParallelConfig& config, int world_size, const ModelFacts& facts);

}  // namespace xdit::parallel
