#include "workers/quality_bench.hpp"

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdio>
#include <map>

#include "bench/image_quality.hpp"
#include "bench/prompt_accuracy.hpp"
#include "data/scene_render.hpp"
#include "workers/launcher.hpp"

namespace xdit::workers {
namespace {

struct Method {
  std::string key;    // "pipefusion_m4"
  std::string label;  // "PipeFusion 2 stages, M=4"
  parallel::ParallelConfig parallel;
};

std::vector<Method> exact_methods() {
  std::vector<Method> methods(4);
  methods[0] = {"cfg", "CFG parallel 2", {}};
  methods[0].parallel.cfg_degree = 2;
  methods[1] = {"ulysses", "Ulysses 2", {}};
  methods[1].parallel.ulysses_degree = 2;
  methods[2] = {"ring", "Ring 2", {}};
  methods[2].parallel.ring_degree = 2;
  methods[3] = {"tensor", "Tensor parallel 2", {}};
  methods[3].parallel.tensor_degree = 2;
  return methods;
}

std::vector<Method> stale_methods(const QualityBenchSettings& settings) {
  std::vector<Method> methods;
  for (int patches : settings.pipeline_patches) {
    Method m{"pipefusion_m" + std::to_string(patches),
             "PipeFusion 2 stages, M=" + std::to_string(patches),
             {}};
    m.parallel.pipefusion_degree = 2;
    m.parallel.num_pipeline_patch = patches;
    methods.push_back(m);
  }
  Method distrifusion{"distrifusion", "DistriFusion 2 patches", {}};
  distrifusion.parallel.distrifusion_degree = 2;
  methods.push_back(distrifusion);
  return methods;
}

// Every prompt under every seed, seed after seed: [seeds × prompts, H, W, 3].
at::Tensor generate_on(const QualityBenchSettings& settings,
                       const std::vector<std::string>& prompts,
                       const parallel::ParallelConfig& parallel, int world_size) {
  GroupSpec spec;
  spec.model = settings.model;
  spec.parallel = parallel;
  spec.world_size = world_size;
  Launcher group(spec);
  std::vector<at::Tensor> images;
  for (const uint64_t seed : settings.seeds) {
    pipelines::GenerationRequest request;
    request.prompts = prompts;
    request.num_inference_steps = settings.steps;
    request.seed = seed;
    request.use_resolution_binning = false;
    images.push_back(group.generate(request).result.images);
  }
  return at::cat(images);
}

std::string record_name(const std::string& method, int warmup) {
  return "quality_" + method + (warmup < 0 ? "" : "_warmup" + std::to_string(warmup));
}

bench::Record accuracy_record(std::string name, std::string label,
                              const bench::PromptAccuracy& accuracy) {
  bench::Record record{std::move(name), std::move(label), {}};
  record.add("prompt_accuracy", "prompt accuracy", accuracy.percent(), "%");
  record.add("correct_images", "images as asked", accuracy.correct);
  record.add("images", "images", accuracy.total);
  return record;
}

}  // namespace

std::vector<bench::Record> run_quality_bench(
    const QualityBenchSettings& settings,
    const std::function<void(const bench::Record&)>& on_record) {
  const std::vector<data::Scene> scenes = bench::quality_scenes(settings.prompts);
  const std::vector<std::string> prompts = bench::captions_of(scenes);
  std::vector<bench::Record> records;
  const auto emit = [&](bench::Record record) {
    if (on_record)
      on_record(record);
    records.push_back(std::move(record));
  };

  // The checker itself, on what the training renderer draws for the prompts.
  std::vector<at::Tensor> truth;
  for (const auto& scene : scenes)
    truth.push_back(data::render(scene, 64, 64));
  emit(accuracy_record("quality_checker_on_renderer",
                       "the checker on the renderer's own images of the prompts",
                       bench::prompt_accuracy(at::stack(truth), scenes)));

  const at::Tensor serial = generate_on(settings, prompts, {}, 1);
  const bench::PromptAccuracy serial_accuracy = bench::prompt_accuracy(serial, scenes);
  // What the model gets wrong, for people reading the log.
  for (const std::string& miss : serial_accuracy.misses)
    spdlog::info("serial miss: {}", miss);
  emit(accuracy_record(record_name("serial", -1),
                       "serial, " + std::to_string(prompts.size()) + " prompts x " +
                           std::to_string(settings.seeds.size()) + " seeds",
                       serial_accuracy));

  const auto measure = [&](const Method& method, int warmup) {
    parallel::ParallelConfig parallel = method.parallel;
    if (warmup >= 0)
      parallel.warmup_steps = warmup;
    const at::Tensor images = generate_on(settings, prompts, parallel, 2);
    const bench::ImageDifference difference = bench::compare_images(images, serial);
    bench::Record record = accuracy_record(
        record_name(method.key, warmup),
        method.label + (warmup < 0 ? std::string()
                                   : ", warm-up " + std::to_string(warmup) + " of " +
                                         std::to_string(settings.steps) + " steps"),
        bench::prompt_accuracy(images, scenes));
    if (warmup >= 0)
      record.add("warmup_steps", "warm-up steps", warmup);
    record.add("psnr_db", "PSNR against serial", difference.psnr_db, "dB");
    record.add("max_abs_levels", "largest pixel difference", difference.max_abs, "levels");
    emit(std::move(record));
  };
  for (const Method& method : exact_methods())
    measure(method, -1);
  std::vector<int> warmups = settings.warmups;
  warmups.push_back(static_cast<int>(settings.steps));  // all warm: must be exact
  for (const Method& method : stale_methods(settings)) {
    for (int warmup : warmups)
      measure(method, warmup);
  }
  return records;
}

std::string format_quality_table(const std::vector<bench::Record>& records,
                                 const QualityBenchSettings& settings) {
  std::map<std::string, const bench::Record*> by_name;
  for (const bench::Record& r : records)
    by_name[r.name] = &r;
  const auto value = [&](const std::string& name, const char* key) {
    const auto found = by_name.find(name);
    return found == by_name.end() ? NAN : found->second->find(key).value_or(NAN);
  };
  const auto psnr_text = [](double psnr) {
    char text[32];
    if (std::isinf(psnr))
      return std::string("identical");
    std::snprintf(text, sizeof text, "%.1f dB", psnr);
    return std::string(text);
  };
  char line[160];
  std::string out = "| method | prompt accuracy | PSNR against serial |\n|---|---|---|\n";
  std::snprintf(line, sizeof line, "| serial | %.1f %% | |\n",
                value(record_name("serial", -1), "prompt_accuracy"));
  out += line;
  for (const Method& method : exact_methods()) {
    const std::string name = record_name(method.key, -1);
    std::snprintf(line, sizeof line, "| %s | %.1f %% | %s |\n", method.label.c_str(),
                  value(name, "prompt_accuracy"), psnr_text(value(name, "psnr_db")).c_str());
    out += line;
  }
  std::vector<int> warmups = settings.warmups;
  warmups.push_back(static_cast<int>(settings.steps));
  out += "\n| method |";
  std::string rule = "|---|";
  for (int warmup : warmups) {
    out += " warm-up " + std::to_string(warmup) + " |";
    rule += "---|";
  }
  out += "\n" + rule + "\n";
  for (const Method& method : stale_methods(settings)) {
    out += "| " + method.label + " |";
    for (int warmup : warmups) {
      const std::string name = record_name(method.key, warmup);
      std::snprintf(line, sizeof line, " %.1f %% (%s) |", value(name, "prompt_accuracy"),
                    psnr_text(value(name, "psnr_db")).c_str());
      out += line;
    }
    out += "\n";
  }
  std::snprintf(line, sizeof line,
                "cells: prompt accuracy over %zu prompts x %zu seeds (PSNR against serial); "
                "the checker scores %.1f %% on the renderer's own images\n",
                settings.prompts, settings.seeds.size(),
                value("quality_checker_on_renderer", "prompt_accuracy"));
  return out + line;
}

}  // namespace xdit::workers
