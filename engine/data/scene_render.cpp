#include "data/scene_render.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <array>
#include <cmath>

namespace xdit::data {
namespace {

constexpr double kPi = 3.14159265358979323846;

// A five-pointed star, point up: outer radius 1, inner 0.45.
const std::array<std::pair<double, double>, 10>& star_polygon() {
  static const auto polygon = [] {
    std::array<std::pair<double, double>, 10> p{};
    for (int i = 0; i < 10; ++i) {
      const double angle = -kPi / 2 + i * kPi / 5;
      const double r = i % 2 ? 0.45 : 1.0;
      p[static_cast<size_t>(i)] = {r * std::cos(angle), r * std::sin(angle)};
    }
    return p;
  }();
  return polygon;
}

bool inside_polygon(const std::array<std::pair<double, double>, 10>& p, double x, double y) {
  bool in = false;
  for (size_t i = 0, j = p.size() - 1; i < p.size(); j = i++) {
    const auto [xi, yi] = p[i];
    const auto [xj, yj] = p[j];
    if ((yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi)
      in = !in;
  }
  return in;
}

}  // namespace

Point centre_of(Place place) {
  static const std::array<double, 3> at = {0.2, 0.5, 0.8};
  const auto p = static_cast<size_t>(place);
  return {at[p % 3], at[p / 3]};
}

double radius_of(Size size) {
  return size == Size::kSmall ? 0.12 : 0.3;
}

bool inside(ShapeKind kind, double u, double v) {
  switch (kind) {
    case ShapeKind::kCircle:
      return u * u + v * v <= 1;
    case ShapeKind::kSquare:
      return std::abs(u) <= 0.85 && std::abs(v) <= 0.85;
    case ShapeKind::kTriangle:
      // Apex at the top, base at v = 0.8: half its width grows with depth.
      return v >= -1 && v <= 0.8 && std::abs(u) <= (v + 1) / 1.8 * 1.0;
    case ShapeKind::kStar:
      return inside_polygon(star_polygon(), u, v);
    case ShapeKind::kRing: {
      const double r2 = u * u + v * v;
      return r2 <= 1 && r2 >= 0.55 * 0.55;
    }
    case ShapeKind::kCross:
      return (std::abs(u) <= 0.3 && std::abs(v) <= 1) || (std::abs(v) <= 0.3 && std::abs(u) <= 1);
  }
  return false;
}

at::Tensor render(const Scene& scene, int64_t height, int64_t width) {
  at::Tensor image = at::empty({height, width, 3}, at::kByte);
  uint8_t* pixels = image.data_ptr<uint8_t>();
  const auto put = [&](int64_t y, int64_t x, Rgb c) {
    uint8_t* p = pixels + (y * width + x) * 3;
    p[0] = c.r;
    p[1] = c.g;
    p[2] = c.b;
  };
  const Rgb upper = rgb(scene.background);
  const Rgb lower = rgb(scene.lower_background.value_or(scene.background));
  for (int64_t y = 0; y < height; ++y) {
    for (int64_t x = 0; x < width; ++x)
      put(y, x, 2 * y < height ? upper : lower);
  }
  const double side = static_cast<double>(std::min(height, width));
  for (const Shape& shape : scene.shapes) {
    const Point c = centre_of(shape.place);
    const double cx = c.x * static_cast<double>(width), cy = c.y * static_cast<double>(height);
    const double r = radius_of(shape.size) * side;
    const Rgb colour = rgb(shape.colour);
    const auto y0 = std::max<int64_t>(0, static_cast<int64_t>(cy - r) - 1);
    const auto y1 = std::min<int64_t>(height, static_cast<int64_t>(cy + r) + 2);
    const auto x0 = std::max<int64_t>(0, static_cast<int64_t>(cx - r) - 1);
    const auto x1 = std::min<int64_t>(width, static_cast<int64_t>(cx + r) + 2);
    for (int64_t y = y0; y < y1; ++y) {
      for (int64_t x = x0; x < x1; ++x) {
        // The pixel's centre, in units of the radius.
        const double u = (static_cast<double>(x) + 0.5 - cx) / r;
        const double v = (static_cast<double>(y) + 0.5 - cy) / r;
        if (inside(shape.kind, u, v))
          put(y, x, colour);
      }
    }
  }
  return image;
}

}  // namespace xdit::data
