#include "data/scene.hpp"

#include <algorithm>
#include <array>
#include <sstream>

#include "core/splitmix.hpp"

namespace xdit::data {
namespace {

// A counter-based stream, so scene `index` needs no others.
class Draws {
 public:
  Draws(uint64_t seed, uint64_t index)
      : state_(splitmix64(seed) ^ splitmix64(index + 0x51ED2701ull)) {}
  // Uniform in [0, n).
  size_t below(size_t n) { return static_cast<size_t>(splitmix64(state_++) % n); }
  bool chance(int percent) { return below(100) < static_cast<size_t>(percent); }

 private:
  uint64_t state_;
};

const std::array<const char*, 9> kPlaceNames = {"top left",    "top",    "top right",
                                                "left",        "centre", "right",
                                                "bottom left", "bottom", "bottom right"};

std::string shape_phrase(const Shape& s) {
  std::string text = "a ";
  if (s.size == Size::kSmall)
    text += "small ";
  text += name(s.colour) + " " + name(s.kind);
  if (s.place != Place::kCentre)
    text += " at the " + name(s.place);
  return text;
}

// Reads words from a caption, one at a time.
class Words {
 public:
  explicit Words(const std::string& text) {
    std::istringstream in(text);
    for (std::string w; in >> w;)
      words_.push_back(w);
  }
  bool done() const { return at_ == words_.size(); }
  const std::string& peek() const {
    static const std::string none;
    return done() ? none : words_[at_];
  }
  bool take(const std::string& word) {
    if (peek() != word)
      return false;
    ++at_;
    return true;
  }
  template <typename T>
  std::optional<T> take_one(const std::vector<T>& values) {
    for (T v : values) {
      if (take(name(v)))
        return v;
    }
    return std::nullopt;
  }
  std::optional<Place> take_place() {
    // Two-word places first ("top left" before "top").
    for (size_t length = 2; length >= 1; --length) {
      if (at_ + length > words_.size())
        continue;
      const std::string phrase = length == 2 ? words_[at_] + " " + words_[at_ + 1] : words_[at_];
      for (size_t p = 0; p < kPlaceNames.size(); ++p) {
        if (phrase == kPlaceNames[p]) {
          at_ += length;
          return static_cast<Place>(p);
        }
      }
    }
    return std::nullopt;
  }

 private:
  std::vector<std::string> words_;
  size_t at_ = 0;
};

std::optional<Shape> parse_shape(Words& words) {
  if (!words.take("a"))
    return std::nullopt;
  Shape s;
  s.size = words.take("small") ? Size::kSmall : Size::kLarge;
  const auto colour = words.take_one(all_colours());
  const auto kind = words.take_one(all_shape_kinds());
  if (!colour || !kind)
    return std::nullopt;
  s.colour = *colour;
  s.kind = *kind;
  if (words.take("at")) {
    if (!words.take("the"))
      return std::nullopt;
    const auto place = words.take_place();
    if (!place)
      return std::nullopt;
    s.place = *place;
  }
  return s;
}

// The places two small shapes may take: neither the same nor touching.
bool apart(Place a, Place b) {
  const int ia = static_cast<int>(a), ib = static_cast<int>(b);
  return std::abs(ia / 3 - ib / 3) + std::abs(ia % 3 - ib % 3) >= 2;
}

}  // namespace

const std::vector<ShapeKind>& all_shape_kinds() {
  static const std::vector<ShapeKind> kinds = {ShapeKind::kCircle,   ShapeKind::kSquare,
                                               ShapeKind::kTriangle, ShapeKind::kStar,
                                               ShapeKind::kRing,     ShapeKind::kCross};
  return kinds;
}

const std::vector<Colour>& all_colours() {
  static const std::vector<Colour> colours = {Colour::kRed,    Colour::kGreen, Colour::kBlue,
                                              Colour::kYellow, Colour::kWhite, Colour::kBlack,
                                              Colour::kOrange, Colour::kPurple};
  return colours;
}

std::string name(ShapeKind kind) {
  switch (kind) {
    case ShapeKind::kCircle:
      return "circle";
    case ShapeKind::kSquare:
      return "square";
    case ShapeKind::kTriangle:
      return "triangle";
    case ShapeKind::kStar:
      return "star";
    case ShapeKind::kRing:
      return "ring";
    case ShapeKind::kCross:
      return "cross";
  }
  return "?";
}

std::string name(Colour colour) {
  switch (colour) {
    case Colour::kRed:
      return "red";
    case Colour::kGreen:
      return "green";
    case Colour::kBlue:
      return "blue";
    case Colour::kYellow:
      return "yellow";
    case Colour::kWhite:
      return "white";
    case Colour::kBlack:
      return "black";
    case Colour::kOrange:
      return "orange";
    case Colour::kPurple:
      return "purple";
  }
  return "?";
}

std::string name(Place place) {
  return kPlaceNames.at(static_cast<size_t>(place));
}

Rgb rgb(Colour colour) {
  switch (colour) {
    case Colour::kRed:
      return {220, 30, 30};
    case Colour::kGreen:
      return {30, 170, 50};
    case Colour::kBlue:
      return {30, 60, 220};
    case Colour::kYellow:
      return {245, 220, 30};
    case Colour::kWhite:
      return {245, 245, 245};
    case Colour::kBlack:
      return {20, 20, 20};
    case Colour::kOrange:
      return {250, 140, 20};
    case Colour::kPurple:
      return {140, 40, 180};
  }
  return {};
}

std::string caption(const Scene& scene) {
  std::string text;
  for (size_t i = 0; i < scene.shapes.size(); ++i)
    text += (i ? " and " : "") + shape_phrase(scene.shapes[i]);
  text += " on a " + name(scene.background);
  if (scene.lower_background)
    text += " and " + name(*scene.lower_background);
  return text + " background";
}

std::optional<Scene> parse_caption(const std::string& text) {
  Words words(text);
  Scene scene;
  do {
    const auto shape = parse_shape(words);
    if (!shape)
      return std::nullopt;
    scene.shapes.push_back(*shape);
  } while (words.take("and"));
  if (!words.take("on") || !words.take("a"))
    return std::nullopt;
  const auto background = words.take_one(all_colours());
  if (!background)
    return std::nullopt;
  scene.background = *background;
  if (words.take("and")) {
    scene.lower_background = words.take_one(all_colours());
    if (!scene.lower_background)
      return std::nullopt;
  }
  if (!words.take("background") || !words.done())
    return std::nullopt;
  return scene;
}

Scene sample_scene(uint64_t seed, uint64_t index) {
  Draws draw(seed, index);
  const auto& colours = all_colours();
  const auto& kinds = all_shape_kinds();
  Scene scene;
  scene.background = colours[draw.below(colours.size())];
  if (draw.chance(25)) {
    Colour lower;
    do {
      lower = colours[draw.below(colours.size())];
    } while (lower == scene.background);
    scene.lower_background = lower;
  }
  const auto free_colour = [&](std::optional<Colour> also_not) {
    Colour c;
    do {
      c = colours[draw.below(colours.size())];
    } while (c == scene.background || c == scene.lower_background || c == also_not);
    return c;
  };
  Shape first;
  first.kind = kinds[draw.below(kinds.size())];
  first.colour = free_colour(std::nullopt);
  if (draw.chance(70)) {
    // One shape: large at the centre, or small anywhere.
    if (draw.chance(50)) {
      first.size = Size::kSmall;
      first.place = static_cast<Place>(draw.below(9));
    }
    scene.shapes = {first};
    return scene;
  }
  // Two small shapes of two colours, apart.
  first.size = Size::kSmall;
  first.place = static_cast<Place>(draw.below(9));
  Shape second;
  second.kind = kinds[draw.below(kinds.size())];
  second.colour = free_colour(first.colour);
  second.size = Size::kSmall;
  do {
    second.place = static_cast<Place>(draw.below(9));
  } while (!apart(first.place, second.place));
  scene.shapes = {first, second};
  return scene;
}

}  // namespace xdit::data
