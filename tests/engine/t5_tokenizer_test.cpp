#include "models/t5_tokenizer.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace xdit::models {
namespace {

const std::filesystem::path kTinyFolder =
    std::filesystem::path(XDIT_TEST_DATA_DIR) / "t5" / "tiny_tokenizer";

// Ids in the tiny model (vocab 256): see make_tiny_sentencepiece_model.
constexpr int64_t kPad = 0, kEos = 1, kUnk = 2, kA = 54, kThe = 55, kCat = 70, kDog = 71,
                  kLetterS = 22;

std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// A scratch folder removed at the end of the test.
class TempFolder {
 public:
  explicit TempFolder(const std::string& name)
      : path_(std::filesystem::temp_directory_path() /
              ("xdit_t5_" + name + "_" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempFolder() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }
  void write(const std::string& name, const std::string& bytes) const {
    std::ofstream(path_ / name, std::ios::binary) << bytes;
  }

 private:
  std::filesystem::path path_;
};

std::vector<int64_t> row(const at::Tensor& t, int64_t index) {
  const at::Tensor r = t[index].contiguous();
  return {r.data_ptr<int64_t>(), r.data_ptr<int64_t>() + r.numel()};
}

T5Tokenizer tiny() {
  return T5Tokenizer::from_folder(kTinyFolder);
}

TEST(TinySentencePieceModel, IsByteIdenticalToTheCheckedInCopy) {
  const std::string model = make_tiny_sentencepiece_model(256);
  EXPECT_EQ(model, make_tiny_sentencepiece_model(256));
  // The checked-in copy pins the bytes across runs, builds and machines.
  EXPECT_EQ(model, read_bytes(kTinyFolder / "spiece.model"));
  EXPECT_NE(model, make_tiny_sentencepiece_model(300));
  EXPECT_THROW(make_tiny_sentencepiece_model(3), UsageError);
}

TEST(TinySentencePieceModel, LoadsWithT5SpecialIds) {
  for (const int size : {4, 64, 256, 5000}) {
    const auto tokenizer = T5Tokenizer::from_serialized(make_tiny_sentencepiece_model(size));
    EXPECT_EQ(tokenizer.pad_id(), kPad);
    EXPECT_EQ(tokenizer.eos_id(), kEos);
    EXPECT_EQ(tokenizer.unk_id(), kUnk);
    EXPECT_EQ(tokenizer.vocab_size(), size + 100);
  }
}

TEST(T5Tokenizer, EncodesWordsIntoPieces) {
  const auto tokenizer = tiny();
  EXPECT_EQ(tokenizer.tokenize("a cat"), (std::vector<int64_t>{kA, kCat}));
  // Whitespace is normalised by SentencePiece: collapsed and trimmed.
  EXPECT_EQ(tokenizer.tokenize("  a   cat "), (std::vector<int64_t>{kA, kCat}));
  EXPECT_EQ(tokenizer.tokenize("the cats"), (std::vector<int64_t>{kThe, kCat, kLetterS}));
  EXPECT_TRUE(tokenizer.tokenize("").empty());
  // Characters outside the vocabulary become <unk>.
  const auto unknown = tokenizer.tokenize("\xE6\x97\xA5");
  ASSERT_FALSE(unknown.empty());
  EXPECT_EQ(unknown.back(), kUnk);
}

TEST(T5Tokenizer, PadsAfterEosWithMaskZero) {
  const T5Tokens tokens = tiny().encode({"a cat", "", "a dog"}, 5);
  ASSERT_EQ(tokens.input_ids.sizes(), (std::vector<int64_t>{3, 5}));
  EXPECT_EQ(tokens.input_ids.scalar_type(), at::kLong);
  EXPECT_EQ(tokens.attention_mask.scalar_type(), at::kLong);
  EXPECT_EQ(row(tokens.input_ids, 0), (std::vector<int64_t>{kA, kCat, kEos, kPad, kPad}));
  EXPECT_EQ(row(tokens.attention_mask, 0), (std::vector<int64_t>{1, 1, 1, 0, 0}));
  EXPECT_EQ(row(tokens.input_ids, 1), (std::vector<int64_t>{kEos, kPad, kPad, kPad, kPad}));
  EXPECT_EQ(row(tokens.attention_mask, 1), (std::vector<int64_t>{1, 0, 0, 0, 0}));
  EXPECT_EQ(row(tokens.input_ids, 2), (std::vector<int64_t>{kA, kDog, kEos, kPad, kPad}));
}

TEST(T5Tokenizer, TruncatesSoThatEosStillFits) {
  const auto tokenizer = tiny();
  // Four tokens: exactly fills max_length 5 with eos; max_length 4 cuts one.
  const std::string prompt = "a cat a dog";
  EXPECT_EQ(row(tokenizer.encode({prompt}, 5).input_ids, 0),
            (std::vector<int64_t>{kA, kCat, kA, kDog, kEos}));
  EXPECT_EQ(row(tokenizer.encode({prompt}, 5).attention_mask, 0),
            (std::vector<int64_t>{1, 1, 1, 1, 1}));
  EXPECT_EQ(row(tokenizer.encode({prompt}, 4).input_ids, 0),
            (std::vector<int64_t>{kA, kCat, kA, kEos}));
  EXPECT_EQ(row(tokenizer.encode({prompt}, 1).input_ids, 0), (std::vector<int64_t>{kEos}));
  std::string long_prompt;
  for (int i = 0; i < 200; ++i)
    long_prompt += "a cat ";
  const T5Tokens tokens = tokenizer.encode({long_prompt}, 120);
  EXPECT_EQ(tokens.input_ids[0][119].item<int64_t>(), kEos);
  EXPECT_EQ(tokens.attention_mask.sum().item<int64_t>(), 120);
  EXPECT_THROW(tokenizer.encode({prompt}, 0), UsageError);
}

TEST(T5Tokenizer, LiteralSpecialTokensBecomeTheirIds) {
  const auto tokenizer = tiny();
  // A prompt that already ends with eos gets no second one (T5Tokenizer's
  // _add_eos_if_not_present).
  EXPECT_EQ(row(tokenizer.encode({"a cat</s>"}, 5).input_ids, 0),
            (std::vector<int64_t>{kA, kCat, kEos, kPad, kPad}));
  EXPECT_EQ(tokenizer.tokenize("a </s> cat<pad>"), (std::vector<int64_t>{kA, kEos, kCat, kPad}));
  // Sentinels count down from the end of the vocabulary.
  EXPECT_EQ(tokenizer.tokenize("a <extra_id_0> cat <extra_id_99>"),
            (std::vector<int64_t>{kA, 355, kCat, 256}));
  // Sentinels beyond extra_ids are plain text.
  for (const int64_t id : tokenizer.tokenize("<extra_id_100>"))
    EXPECT_LT(id, 256);
}

TEST(T5Tokenizer, ReadsTokenizerConfig) {
  const auto folder_tokenizer = tiny();
  EXPECT_EQ(folder_tokenizer.options().extra_ids, 100);
  EXPECT_FALSE(folder_tokenizer.options().model_max_length.has_value());  // 1e30: no limit

  TempFolder folder("config");
  folder.write("spiece.model", make_tiny_sentencepiece_model(256));
  folder.write("tokenizer_config.json", R"({"eos_token": {"content": "<unk>", "lstrip": false},
      "extra_ids": 0, "model_max_length": 512})");
  const auto tokenizer = T5Tokenizer::from_folder(folder.path());
  EXPECT_EQ(tokenizer.eos_id(), kUnk);
  EXPECT_EQ(tokenizer.vocab_size(), 256);
  EXPECT_EQ(tokenizer.options().model_max_length, 512);
  EXPECT_EQ(row(tokenizer.encode({"a"}, 3).input_ids, 0), (std::vector<int64_t>{kA, kUnk, kPad}));

  folder.write("tokenizer_config.json", R"({"eos_token": 5})");
  EXPECT_THROW(T5Tokenizer::from_folder(folder.path()), ConfigError);
}

TEST(T5Tokenizer, MissingOrCorruptModelIsAFileErrorNamingIt) {
  TempFolder folder("broken");
  try {
    T5Tokenizer::from_folder(folder.path());
    FAIL() << "loaded a folder without spiece.model";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("spiece.model"), std::string::npos) << e.what();
  }
  for (const std::string& garbage : {std::string("not a sentencepiece model"), std::string()}) {
    folder.write("spiece.model", garbage);
    try {
      T5Tokenizer::from_folder(folder.path());
      FAIL() << "loaded a garbage spiece.model";
    } catch (const FileError& e) {
      EXPECT_NE(std::string(e.what()).find((folder.path() / "spiece.model").string()),
                std::string::npos)
          << e.what();
    }
  }
  EXPECT_THROW(T5Tokenizer::from_serialized("\x0a\x03\x0a\x01", {}, "bytes"), FileError);
}

TEST(PreprocessPrompt, LowerCasesAndStripsLikePython) {
  EXPECT_EQ(preprocess_prompt("  A Cat On The MAT\n"), "a cat on the mat");
  EXPECT_EQ(preprocess_prompt("\xC3\x89"  // É
                              "COLE \xCE\x91\xCE\x92"),
            "\xC3\xA9"
            "cole \xCE\xB1\xCE\xB2");
  // U+3000 (ideographic space) and U+00A0 are whitespace to Python's strip.
  EXPECT_EQ(preprocess_prompt("\xE3\x80\x80X Y\xC2\xA0"), "x y");
  EXPECT_EQ(preprocess_prompt(" \t\n"), "");
  // Bytes that are not UTF-8 pass through unchanged.
  EXPECT_EQ(preprocess_prompt("A\xFF"), "a\xFF");
}

}  // namespace
}  // namespace xdit::models
