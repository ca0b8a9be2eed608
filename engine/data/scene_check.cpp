#include "data/scene_check.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "core/error.hpp"
#include "data/scene_render.hpp"

namespace xdit::data {
namespace {

// The index (into all_colours()) of each pixel's nearest named colour.
std::vector<int> nearest_colours(const at::Tensor& image) {
  const auto& colours = all_colours();
  std::vector<float> palette;
  for (Colour c : colours) {
    const Rgb v = rgb(c);
    palette.insert(palette.end(), {float(v.r), float(v.g), float(v.b)});
  }
  const at::Tensor table =
      at::from_blob(palette.data(), {static_cast<int64_t>(colours.size()), 3}, at::kFloat).clone();
  const at::Tensor pixels = image.reshape({-1, 3}).to(at::kFloat);
  const at::Tensor nearest = at::cdist(pixels, table).argmin(1).to(at::kInt).contiguous();
  return {nearest.data_ptr<int>(), nearest.data_ptr<int>() + nearest.numel()};
}

// The most frequent colour among the border pixels of rows [top, bottom).
Colour border_colour(const std::vector<int>& labels, int64_t width, int64_t top, int64_t bottom,
                     int64_t height) {
  std::map<int, int64_t> votes;
  for (int64_t y = top; y < bottom; ++y) {
    const bool edge_row = y == 0 || y == height - 1;
    for (int64_t x = 0; x < width; ++x) {
      if (edge_row || x == 0 || x == width - 1)
        ++votes[labels[static_cast<size_t>(y * width + x)]];
    }
  }
  const auto best = std::max_element(votes.begin(), votes.end(),
                                     [](auto a, auto b) { return a.second < b.second; });
  return all_colours().at(static_cast<size_t>(best->first));
}

struct Blob {
  int64_t area = 0;
  double cx = 0, cy = 0;  // centroid, pixels
  int64_t x0 = 0, x1 = 0, y0 = 0, y1 = 0;
};

ShapeKind kind_of(const std::vector<char>& mask, int64_t width, const Blob& b) {
  const double w = static_cast<double>(b.x1 - b.x0 + 1), h = static_cast<double>(b.y1 - b.y0 + 1);
  const auto at = [&](int64_t x, int64_t y) {
    return mask[static_cast<size_t>(y * width + x)] != 0;
  };
  const auto cx = static_cast<int64_t>(std::lround(b.cx - 0.5));
  const auto cy = static_cast<int64_t>(std::lround(b.cy - 0.5));
  if (!at(cx, cy))
    return ShapeKind::kRing;
  const double fill = static_cast<double>(b.area) / (w * h);
  if (fill >= 0.9)
    return ShapeKind::kSquare;
  const double middle = (static_cast<double>(b.y0) + static_cast<double>(b.y1)) / 2;
  double below = 0, above = 0, corners = 0;
  const double cw = 0.3 * w, ch = 0.3 * h;
  for (int64_t y = b.y0; y <= b.y1; ++y) {
    for (int64_t x = b.x0; x <= b.x1; ++x) {
      if (!at(x, y))
        continue;
      const auto fx = static_cast<double>(x), fy = static_cast<double>(y);
      below += fy > middle;
      above += fy < middle;
      const bool side = fx < static_cast<double>(b.x0) + cw || fx > static_cast<double>(b.x1) - cw;
      const bool end = fy < static_cast<double>(b.y0) + ch || fy > static_cast<double>(b.y1) - ch;
      corners += side && end;
    }
  }
  if ((below - above) / static_cast<double>(b.area) >= 0.25)
    return ShapeKind::kTriangle;
  if (corners / (4 * cw * ch) <= 0.07)
    return ShapeKind::kCross;
  return fill >= 0.65 ? ShapeKind::kCircle : ShapeKind::kStar;
}

std::string said(const Shape& s) {
  return (s.size == Size::kSmall ? "small " : "large ") + name(s.colour) + " " + name(s.kind) +
         " at the " + name(s.place);
}

}  // namespace

SceneCheck check_scene(const at::Tensor& image, const Scene& expected) {
  if (image.dim() != 3 || image.size(2) != 3 || image.scalar_type() != at::kByte)
    throw UsageError("check_scene needs a uint8 [H, W, 3] image");
  const int64_t height = image.size(0), width = image.size(1);
  const std::vector<int> labels = nearest_colours(image.contiguous());
  const auto index_of = [](Colour c) {
    const auto& all = all_colours();
    return static_cast<int>(std::find(all.begin(), all.end(), c) - all.begin());
  };

  SceneCheck out;
  const Colour upper = border_colour(labels, width, 0, height / 2, height);
  const Colour lower = border_colour(labels, width, height / 2, height, height);
  const Colour want_lower = expected.lower_background.value_or(expected.background);
  if (upper != expected.background || lower != want_lower) {
    out.why = "background " + name(upper) + (upper == lower ? "" : " and " + name(lower)) +
              ", not " + name(expected.background) +
              (expected.lower_background ? " and " + name(want_lower) : "");
    return out;
  }
  const double side = static_cast<double>(std::min(height, width));
  for (size_t i = 0; i < expected.shapes.size(); ++i) {
    const Shape& want = expected.shapes[i];
    const Point home = centre_of(want.place);
    std::vector<char> mask(labels.size(), 0);
    Blob b;
    b.x0 = width;
    b.y0 = height;
    for (int64_t y = 0; y < height; ++y) {
      for (int64_t x = 0; x < width; ++x) {
        if (labels[static_cast<size_t>(y * width + x)] != index_of(want.colour))
          continue;
        // With another shape of this colour, only the pixels nearer this one's place.
        const double fx = (static_cast<double>(x) + 0.5) / static_cast<double>(width);
        const double fy = (static_cast<double>(y) + 0.5) / static_cast<double>(height);
        bool mine = true;
        for (size_t j = 0; j < expected.shapes.size(); ++j) {
          const Point other = centre_of(expected.shapes[j].place);
          if (j != i && expected.shapes[j].colour == want.colour &&
              std::hypot(fx - other.x, fy - other.y) < std::hypot(fx - home.x, fy - home.y))
            mine = false;
        }
        if (!mine)
          continue;
        mask[static_cast<size_t>(y * width + x)] = 1;
        ++b.area;
        b.cx += static_cast<double>(x) + 0.5;
        b.cy += static_cast<double>(y) + 0.5;
        b.x0 = std::min(b.x0, x);
        b.x1 = std::max(b.x1, x);
        b.y0 = std::min(b.y0, y);
        b.y1 = std::max(b.y1, y);
      }
    }
    // A fifth of the smallest shape's disc, at least.
    const double smallest = 0.2 * 3.14159 * std::pow(radius_of(Size::kSmall) * side, 2);
    if (static_cast<double>(b.area) < smallest) {
      out.why = "no " + name(want.colour) + " shape";
      return out;
    }
    b.cx /= static_cast<double>(b.area);
    b.cy /= static_cast<double>(b.area);
    Shape seen = want;
    double nearest = 1e9;
    for (int p = 0; p < 9; ++p) {
      const Point c = centre_of(static_cast<Place>(p));
      const double d = std::hypot(b.cx / static_cast<double>(width) - c.x,
                                  b.cy / static_cast<double>(height) - c.y);
      if (d < nearest) {
        nearest = d;
        seen.place = static_cast<Place>(p);
      }
    }
    const double extent = static_cast<double>(std::max(b.x1 - b.x0 + 1, b.y1 - b.y0 + 1)) / side;
    seen.size = extent < 2 * (radius_of(Size::kSmall) + radius_of(Size::kLarge)) / 2 ? Size::kSmall
                                                                                     : Size::kLarge;
    seen.kind = kind_of(mask, width, b);
    if (!(seen == want)) {
      out.why = "a " + said(seen) + ", not a " + said(want);
      return out;
    }
  }
  out.correct = true;
  return out;
}

SceneCheck check_caption(const at::Tensor& image, const std::string& caption) {
  const std::optional<Scene> scene = parse_caption(caption);
  if (!scene)
    throw UsageError("'" + caption + "' is not a caption of the built-in scenes");
  return check_scene(image, *scene);
}

}  // namespace xdit::data
