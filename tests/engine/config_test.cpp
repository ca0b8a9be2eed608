#include "io/config.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace xdit::io {
namespace {

TEST(ParseJson, AcceptsPythonNonFiniteLiterals) {
  const auto json = parse_json(
      R"({"a": Infinity, "b": -Infinity, "c": NaN, "d": "NaN Infinity", "e": [1, -Infinity]})",
      "test");
  EXPECT_TRUE(std::isinf(json["a"].get<double>()) && json["a"].get<double>() > 0);
  EXPECT_TRUE(std::isinf(json["b"].get<double>()) && json["b"].get<double>() < 0);
  EXPECT_TRUE(std::isnan(json["c"].get<double>()));
  EXPECT_EQ(json["d"].get<std::string>(), "NaN Infinity");
  EXPECT_LT(json["e"][1].get<double>(), 0);
}

TEST(ParseJson, RejectsBrokenTextNamingTheSource) {
  try {
    parse_json("{\"a\": ", "some/config.json");
    FAIL() << "expected an error";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("some/config.json"), std::string::npos);
  }
}

TEST(Config, TypedAccessNamesSourceAndKey) {
  const Config config(parse_json(R"({"n": 3, "x": 1.5, "s": "hi", "nil": null, "b": true})", "t"),
                      "cfg.json");
  EXPECT_EQ(config.get<int64_t>("n"), 3);
  EXPECT_DOUBLE_EQ(config.get<double>("n"), 3.0);
  EXPECT_EQ(config.get<std::string>("s"), "hi");
  EXPECT_EQ(config.get_or<int64_t>("nil", 7), 7);
  EXPECT_EQ(config.get_or<int64_t>("absent", 8), 8);
  EXPECT_TRUE(config.get<bool>("b"));
  EXPECT_THROW(config.get<int64_t>("x"), ConfigError);
  EXPECT_THROW(config.get<bool>("n"), ConfigError);
  try {
    config.get<int64_t>("missing_key");
    FAIL();
  } catch (const ConfigError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("cfg.json"), std::string::npos);
    EXPECT_NE(message.find("missing_key"), std::string::npos);
  }
}

TEST(Config, RejectsNonObjectRoot) {
  EXPECT_THROW(Config(parse_json("[1, 2]", "t"), "t"), FileError);
}

}  // namespace
}  // namespace xdit::io
