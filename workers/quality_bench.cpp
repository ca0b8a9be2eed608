#include "workers/quality_bench.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "bench/image_quality.hpp"
#include "workers/launcher.hpp"

namespace xdit::workers {
namespace {

struct StaleMethod {
  std::string key;    // "pipefusion_m4"
  std::string label;  // "PipeFusion 2 stages, M=4"
  parallel::ParallelConfig parallel;
};

std::vector<StaleMethod> stale_methods(const QualityBenchSettings& settings) {
  std::vector<StaleMethod> methods;
  for (int patches : settings.pipeline_patches) {
    StaleMethod m{"pipefusion_m" + std::to_string(patches),
                  "PipeFusion 2 stages, M=" + std::to_string(patches),
                  {}};
    m.parallel.pipefusion_degree = 2;
    m.parallel.num_pipeline_patch = patches;
    methods.push_back(m);
  }
  StaleMethod distrifusion{"distrifusion", "DistriFusion 2 patches", {}};
  distrifusion.parallel.distrifusion_degree = 2;
  methods.push_back(distrifusion);
  return methods;
}

pipelines::GenerationRequest quality_request(const QualityBenchSettings& settings) {
  pipelines::GenerationRequest request;
  request.prompts = {"a lighthouse on a cliff at dawn, waves breaking"};
  request.num_inference_steps = settings.steps;
  request.seed = settings.seed;
  request.use_resolution_binning = false;
  return request;
}

pipelines::GenerationResult generate_on(const QualityBenchSettings& settings,
                                        const parallel::ParallelConfig& parallel, int world_size) {
  GroupSpec spec;
  spec.model = settings.model;
  spec.parallel = parallel;
  spec.world_size = world_size;
  Launcher group(spec);
  return group.generate(quality_request(settings)).result;
}

std::string record_name(const std::string& method, int warmup) {
  return "quality_" + method + "_warmup" + std::to_string(warmup);
}

}  // namespace

std::vector<bench::Record> run_quality_bench(
    const QualityBenchSettings& settings,
    const std::function<void(const bench::Record&)>& on_record) {
  const pipelines::GenerationResult serial = generate_on(settings, {}, 1);
  const double latent_scale = std::max(1.0, serial.latents.abs().max().item<double>());
  std::vector<int> warmups = settings.warmups;
  warmups.push_back(static_cast<int>(settings.steps));  // all warm: must be exact

  std::vector<bench::Record> records;
  for (const StaleMethod& method : stale_methods(settings)) {
    for (int warmup : warmups) {
      parallel::ParallelConfig parallel = method.parallel;
      parallel.warmup_steps = warmup;
      const pipelines::GenerationResult run = generate_on(settings, parallel, 2);
      const bench::ImageDifference image = bench::compare_images(run.images, serial.images);
      bench::Record record{record_name(method.key, warmup),
                           method.label + ", warm-up " + std::to_string(warmup) + " of " +
                               std::to_string(settings.steps) + " steps, against serial",
                           {}};
      record.add("warmup_steps", "warm-up steps", warmup);
      record.add("psnr_db", "PSNR of the image", image.psnr_db, "dB");
      record.add("max_abs_levels", "largest pixel difference", image.max_abs, "levels");
      record.add("latent_difference_of_scale", "largest latent difference / latent scale",
                 (run.latents - serial.latents).abs().max().item<double>() / latent_scale);
      if (on_record)
        on_record(record);
      records.push_back(std::move(record));
    }
  }
  return records;
}

std::string format_quality_table(const std::vector<bench::Record>& records,
                                 const QualityBenchSettings& settings) {
  std::vector<int> warmups = settings.warmups;
  warmups.push_back(static_cast<int>(settings.steps));
  std::string out = "| method |";
  std::string rule = "|---|";
  for (int warmup : warmups) {
    out += " warm-up " + std::to_string(warmup) + " |";
    rule += "---|";
  }
  out += "\n" + rule + "\n";
  std::map<std::string, const bench::Record*> by_name;
  for (const bench::Record& r : records)
    by_name[r.name] = &r;
  for (const StaleMethod& method : stale_methods(settings)) {
    out += "| " + method.label + " |";
    for (int warmup : warmups) {
      const auto found = by_name.find(record_name(method.key, warmup));
      char cell[64] = "n/a";
      if (found != by_name.end()) {
        const double psnr = found->second->find("psnr_db").value_or(NAN);
        const double levels = found->second->find("max_abs_levels").value_or(NAN);
        if (std::isinf(psnr))
          std::snprintf(cell, sizeof cell, "identical");
        else
          std::snprintf(cell, sizeof cell, "%.1f dB (%.0f)", psnr, levels);
      }
      out += std::string(" ") + cell + " |";
    }
    out += "\n";
  }
  return out + "cells: PSNR of the image against serial (largest pixel difference in levels)\n";
}

}  // namespace xdit::workers
