#pragma once
// Grades a generated image against its caption without a human: the
// background colour (each half of a two-tone one), and for each shape its
// colour, place, size and kind. Each pixel takes the nearest named colour;
// the background is the majority along the image's border; a shape is the
// pixels of its colour (nearer its own place than the other shape's, when
// both share a colour), placed by their centroid, sized by their extent and
// told apart by their form: a hole at the centroid (ring), the share of
// their box they fill (square, circle), more below than above (triangle),
// empty box corners (cross), and the rest (star).

#include <ATen/core/Tensor.h>

#include <string>

#include "data/scene.hpp"

namespace xdit::data {

struct SceneCheck {
  bool correct = false;
  std::string why;  // the first thing that differs, for people; empty when correct
};

// `image`: uint8 [H, W, 3].
SceneCheck check_scene(const at::Tensor& image, const Scene& expected);

// The same for a caption; UsageError for text that parse_caption does not read.
SceneCheck check_caption(const at::Tensor& image, const std::string& caption);

}  // namespace xdit::data
