#pragma once
// Simple scenes that the built-in model learns to draw and the checker
// grades: one or two shapes of named colours, each small or large at one of
// nine places, on a plain or two-tone background; and their captions
// ("a small yellow star at the top left on a blue background"). Sampled
// deterministically from a seed, so that data is made at run time and the
// same seed always gives the same scenes.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace xdit::data {

enum class ShapeKind { kCircle, kSquare, kTriangle, kStar, kRing, kCross };
enum class Colour { kRed, kGreen, kBlue, kYellow, kWhite, kBlack, kOrange, kPurple };
enum class Size { kSmall, kLarge };
// The nine places, row-major from the top left.
enum class Place {
  kTopLeft,
  kTop,
  kTopRight,
  kLeft,
  kCentre,
  kRight,
  kBottomLeft,
  kBottom,
  kBottomRight
};

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
};

struct Shape {
  ShapeKind kind = ShapeKind::kCircle;
  Colour colour = Colour::kRed;
  Size size = Size::kLarge;
  Place place = Place::kCentre;

  bool operator==(const Shape&) const = default;
};

struct Scene {
  Colour background = Colour::kWhite;
  // A two-tone background: the lower half in this colour.
  std::optional<Colour> lower_background;
  std::vector<Shape> shapes;  // one or two, never the background's colour

  bool operator==(const Scene&) const = default;
};

const std::vector<ShapeKind>& all_shape_kinds();
const std::vector<Colour>& all_colours();
std::string name(ShapeKind kind);
std::string name(Colour colour);
std::string name(Place place);  // "top left", "centre", ...
Rgb rgb(Colour colour);

// The scene's caption: "a red circle on a blue background", "a small yellow
// star at the top left on a white and black background", "a green square at
// the left and a large purple ring at the right on a black background". A
// large shape at the centre is said without size and place.
std::string caption(const Scene& scene);

// The scene a caption describes (its inverse); nullopt for text that is
// not one of these captions.
std::optional<Scene> parse_caption(const std::string& text);

// Scene number `index` of the sequence `seed` makes (any index, in any
// order: each is drawn from its own counter-based stream).
Scene sample_scene(uint64_t seed, uint64_t index);

}  // namespace xdit::data
