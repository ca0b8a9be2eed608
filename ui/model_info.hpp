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

#include "pipelines/resolution_bins.hpp"

namespace xdit::ui {

struct ModelInfo {
  std::string spec;              // as chosen: builtin:tiny-pixart or a folder
  std::filesystem::path folder;  // resolved; empty when it could not be
  std::string pipeline_class;    // PixArtAlphaPipeline, ...
  std::string summary;           // one line: kind, layers, heads, base size, weights size
  int64_t default_side = 0;      // the base resolution in pixels
  int64_t size_multiple = 16;    // height and width must be multiples of it
  std::vector<pipelines::AspectRatioBin> bins;  // the trained aspect ratios (may be empty)
  std::vector<std::string> problems;            // empty: the model can be loaded

  bool usable() const { return problems.empty(); }
};

// Resolves `spec`, then checks every component a PixArt pipeline loads:
// listed, its folder and config readable, weights (or vocabulary) present.
// Never throws: each failure is one line of `problems`.
ModelInfo inspect_model(const std::string& spec);

}  // namespace xdit::ui
