#pragma once
// Draws a scene (data/scene.hpp) as an RGB image: the background (its lower
// half in the second colour of a two-tone one), then each shape, filled,
// with hard edges. Where a shape sits and how big it is are given here, in
// fractions of the image, so that the checker measures against the same.

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "data/scene.hpp"

namespace xdit::data {

// Centre of a place, as fractions of the image's width (x) and height (y):
// 0.2, 0.5 or 0.8 each.
struct Point {
  double x = 0, y = 0;
};
Point centre_of(Place place);

// The shape's radius as a fraction of the image's smaller side: 0.12 small,
// 0.3 large.
double radius_of(Size size);

// Whether (u, v), in units of the shape's radius from its centre (v down),
// lies inside a shape of this kind.
bool inside(ShapeKind kind, double u, double v);

// uint8 [height, width, 3].
at::Tensor render(const Scene& scene, int64_t height, int64_t width);

}  // namespace xdit::data
