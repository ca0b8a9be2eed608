#include "models/clip_tokenizer.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "io/config.hpp"
#include "temp_folder.hpp"

namespace xdit::models {
namespace {

// vocab.json and merges.txt made from CLIP's own merge table (shortened),
// and transformers' CLIPTokenizer's output on each string
// (scripts/make_clip_tokenizer_vectors.py).
const std::filesystem::path kData = std::filesystem::path(XDIT_TEST_DATA_DIR) / "clip_tokenizer";

TEST(ClipTokenizer, MatchesTransformersOnEveryReferenceString) {
  const ClipTokenizer tokenizer = ClipTokenizer::from_folder(kData);
  const nlohmann::json reference = io::read_json_file(kData / "cases.json");
  const int64_t max_length = reference["max_length"].get<int64_t>();
  ASSERT_GE(reference["cases"].size(), 20u);
  for (const auto& c : reference["cases"]) {
    const std::string text = c["text"].get<std::string>();
    SCOPED_TRACE("text: " + text);
    EXPECT_EQ(tokenizer.tokenize(text), c["tokens"].get<std::vector<std::string>>());
    EXPECT_EQ(tokenizer.encode(text, max_length), c["input_ids"].get<std::vector<int64_t>>());
  }
}

TEST(ClipTokenizer, LongPromptsKeepTheirStartAndEndAndPadWithThePadToken) {
  const ClipTokenizer tokenizer = ClipTokenizer::from_folder(kData);
  const std::vector<int64_t> ids = tokenizer.encode(std::string(500, 'a') + " b c", 8);
  ASSERT_EQ(ids.size(), 8u);
  EXPECT_EQ(ids.front(), tokenizer.bos_id());
  EXPECT_EQ(ids.back(), tokenizer.eos_id());
  const std::vector<int64_t> short_ids = tokenizer.encode("a", 5);
  EXPECT_EQ(short_ids[2], tokenizer.eos_id());
  EXPECT_EQ(short_ids[3], tokenizer.pad_id());
  EXPECT_THROW(tokenizer.encode("a", 1), UsageError);
}

// SD3's second CLIP tokenizer pads with "!", which transformers then also
// splits out of the text as a special token.
TEST(ClipTokenizer, ReadsItsSpecialTokensFromTheFolder) {
  xdit::testing::TempFolder folder;
  std::filesystem::copy(kData / "vocab.json", folder.path() / "vocab.json");
  std::filesystem::copy(kData / "merges.txt", folder.path() / "merges.txt");
  std::ofstream(folder.path() / "special_tokens_map.json")
      << R"({"pad_token": {"content": "!", "lstrip": false}, "bos_token": "<|startoftext|>"})";
  const ClipTokenizer tokenizer = ClipTokenizer::from_folder(folder.path());
  EXPECT_EQ(tokenizer.pad_id(), 0);  // "!" is the first byte symbol
  EXPECT_EQ(tokenizer.tokenize("wow!"), (std::vector<std::string>{"wow</w>", "!"}));
  EXPECT_EQ(tokenizer.encode("", 4),
            (std::vector<int64_t>{tokenizer.bos_id(), tokenizer.eos_id(), 0, 0}));
}

TEST(ClipTokenizer, BrokenFilesAreFileErrorsNamingThem) {
  xdit::testing::TempFolder folder;
  const auto expect_error_naming = [&](const std::string& name) {
    try {
      ClipTokenizer::from_folder(folder.path());
      ADD_FAILURE() << "accepted a folder with a broken " << name;
    } catch (const FileError& e) {
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
  };
  expect_error_naming("vocab.json");
  std::ofstream(folder.path() / "vocab.json") << R"({"a": 0, "<|startoftext|>": 1})";
  expect_error_naming("merges.txt");
  std::ofstream(folder.path() / "merges.txt") << "#version: 0.2\na b\nc d e\n";
  expect_error_naming("merges.txt");
  std::ofstream(folder.path() / "merges.txt") << "#version: 0.2\na b\n";
  expect_error_naming("vocab.json");  // no <|endoftext|>
  std::ofstream(folder.path() / "vocab.json") << R"(["a"])";
  expect_error_naming("vocab.json");
}

}  // namespace
}  // namespace xdit::models
