#pragma once
// The settings of one `xdit generate` run, and their command-line flags
// (xDiT's names), shared by `xdit generate` and a standalone `xdit-worker`
// (under torchrun or srun), so that both accept the same command line.

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "io/model_folder.hpp"
#include "pipelines/generation.hpp"
#include "workers/group_spec.hpp"

namespace xdit::workers {

struct GenerateSettings {
  GroupSpec group;  // world_size is --nproc for the CLI, the environment's for a worker
  pipelines::GenerationRequest request;
  std::string output_type = "pil";  // pil: PNG images; latent: safetensors
  std::string output = "xdit_output.png";
  bool no_resolution_binning = false;
};

// The model, request, output and parallel-degree flags (not --nproc, not
// --threads: those depend on who runs the generation).
void add_generate_flags(CLI::App& command, GenerateSettings& settings);

// After parsing: folds the output flags into the request. Throws UsageError
// for an --output_type other than pil or latent.
void finish_settings(GenerateSettings& settings);

// The scheduler class a generation with `spec` runs (the model's, or the
// --scheduler override), as recorded in the result's settings.
std::string scheduler_class(const io::ModelFolder& folder, const GroupSpec& spec);

// The `xdit generate` words that make this generation on `spec.world_size`
// processes: every setting that differs from the default, the parallel
// degrees included ("--model", "m", "--prompt", "a fox", ..., "--nproc",
// "2", "--ulysses_degree", "2"). The Studio's runs and plans become
// commands a user can rerun.
std::vector<std::string> generate_words(const GroupSpec& spec,
                                        const pipelines::GenerationRequest& request);

// What a result file records about how it was made: the request, model,
// dtype, scheduler class and final size, and the degrees when parallel.
nlohmann::json settings_json(const GenerateSettings& settings, const std::string& scheduler_class,
                             const pipelines::GenerationResult& result);

}  // namespace xdit::workers
