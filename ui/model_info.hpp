#pragma once
// What the Studio knows of a chosen model before it starts any worker: the
// folder it resolves to, what kind of pipeline it is, its size and the
// resolutions it was trained for, and everything missing or broken in it.
// Reading it touches the disk (and writes a built-in model on first use), so
// the form calls inspect_model off the GUI thread.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "pipelines/prompt_encoder.hpp"
#include "pipelines/resolution_bins.hpp"

namespace xdit::ui {

struct ModelInfo {
  std::string spec;              // as chosen: builtin:tiny-pixart or a folder
  std::filesystem::path folder;  // resolved; empty when it could not be
  std::string pipeline_class;    // PixArtAlphaPipeline, StableDiffusion3Pipeline, ...
  pipelines::PipelineKind kind = pipelines::PipelineKind::kPixArtAlpha;
  std::string summary;  // one line: kind, layers, heads, base size, weights size
  // The controls that apply: a negative prompt and a guidance scale drive
  // classifier-free guidance (PixArt, SD3); a guidance-distilled model
  // (Flux dev) takes the scale alone; Flux schnell takes neither.
  bool negative_prompt = true;
  bool guidance = true;
  double default_guidance = 4.5;
  int64_t default_side = 0;                     // the base resolution in pixels
  int64_t size_multiple = 16;                   // height and width must be multiples of it
  std::vector<pipelines::AspectRatioBin> bins;  // the trained aspect ratios (may be empty)
  std::vector<std::string> problems;            // empty: the model can be loaded

  bool usable() const { return problems.empty(); }
};

// Resolves `spec`, then checks every component its pipeline loads: listed,
// its folder and config readable, weights (or vocabulary) present.
// Never throws: each failure is one line of `problems`.
ModelInfo inspect_model(const std::string& spec);

}  // namespace xdit::ui
