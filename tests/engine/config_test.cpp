#include "io/config.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "temp_folder.hpp"

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

TEST(ParseJson, RefusesHostileTextWithAFileError) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_TRUE(xdit::testing::contains(
      xdit::testing::error_message<FileError>([&] { parse_json(deep, "deep.json"); }),
      "deep.json"));
  EXPECT_THROW(parse_json(R"({"a": 1e999})", "t"), FileError);
  EXPECT_THROW(parse_json("{\"a\": \"\xff\"}", "t"), FileError);  // not UTF-8
}

TEST(ReadJsonFile, NamesAMissingFile) {
  const std::string message = xdit::testing::error_message<FileError>(
      [] { read_json_file("/nonexistent/xdit/config.json"); });
  EXPECT_TRUE(xdit::testing::contains(message, "/nonexistent/xdit/config.json")) << message;
  EXPECT_TRUE(xdit::testing::contains(message, "does not exist")) << message;
}

TEST(DumpJson, WritesNonFiniteNumbersAsPythonDoes) {
  const nlohmann::ordered_json json = {{"inf", std::numeric_limits<double>::infinity()},
                                       {"neg", -std::numeric_limits<double>::infinity()},
                                       {"nan", std::nan("")},
                                       {"list", {1.5, std::numeric_limits<double>::infinity()}},
                                       {"text", "Infinity"}};
  const std::string text = dump_json(json);
  EXPECT_TRUE(xdit::testing::contains(text, "\"inf\": Infinity")) << text;
  EXPECT_TRUE(xdit::testing::contains(text, "\"neg\": -Infinity")) << text;
  EXPECT_TRUE(xdit::testing::contains(text, "\"nan\": NaN")) << text;
  const auto back = parse_json(text, "t");
  EXPECT_TRUE(std::isinf(back["list"][1].get<double>()));
  EXPECT_EQ(back["text"], "Infinity");
  EXPECT_LT(text.find("\"inf\""), text.find("\"neg\""));  // insertion order kept
}

TEST(WriteJsonFile, ReadsBackAndLeavesNoTemporaryFile) {
  xdit::testing::TempFolder folder;
  const auto path = folder / "config.json";
  write_json_file(path, {{"a", 1}, {"b", {{"c", "d"}}}});
  write_json_file(path, {{"a", 2}});
  EXPECT_EQ(Config::from_file(path).get<int64_t>("a"), 2);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(folder.path()),
                          std::filesystem::directory_iterator()),
            1);
}

}  // namespace
}  // namespace xdit::io
