#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "io/safetensors_file.hpp"
#include "io/safetensors_writer.hpp"
#include "temp_folder.hpp"

namespace xdit::io {
namespace {

using xdit::testing::contains;
using xdit::testing::error_message;
using xdit::testing::read_bytes;
using xdit::testing::TempFolder;
using xdit::testing::write_bytes;

std::string length_prefix(uint64_t length) {
  std::string prefix(8, '\0');
  for (int i = 0; i < 8; ++i)
    prefix[i] = static_cast<char>((length >> (8 * i)) & 0xff);
  return prefix;
}

// A file made of a header and `data_bytes` bytes of data.
std::string file_bytes(const std::string& header, size_t data_bytes) {
  return length_prefix(header.size()) + header + std::string(data_bytes, '\x01');
}

std::string open_error(const std::filesystem::path& path) {
  return error_message<FileError>([&] { SafetensorsFile file(path); });
}

// The address ranges at which this process maps `path`.
std::vector<std::pair<uintptr_t, uintptr_t>> mappings_of(const std::filesystem::path& path) {
  const std::string target = std::filesystem::canonical(path).string();
  std::ifstream maps("/proc/self/maps");
  std::vector<std::pair<uintptr_t, uintptr_t>> ranges;
  std::string line;
  while (std::getline(maps, line)) {
    if (line.size() < target.size() ||
        line.compare(line.size() - target.size(), target.npos, target) != 0) {
      continue;
    }
    const size_t dash = line.find('-');
    const size_t space = line.find(' ');
    ranges.emplace_back(std::stoull(line.substr(0, dash), nullptr, 16),
                        std::stoull(line.substr(dash + 1, space - dash - 1), nullptr, 16));
  }
  return ranges;
}

bool is_inside_mapping(const at::Tensor& tensor, const std::filesystem::path& path) {
  const auto begin = reinterpret_cast<uintptr_t>(tensor.data_ptr());
  const auto end = begin + tensor.nbytes();
  for (const auto& [low, high] : mappings_of(path)) {
    if (begin >= low && end <= high)
      return true;
  }
  return false;
}

// ---------------------------------------------------------------- bad headers

struct BadHeader {
  const char* label;
  std::string header;
  size_t data_bytes;
  std::vector<std::string> expected;  // parts of the message besides the path
};

std::string deep_nesting() {
  return "{\"w\": " + std::string(10000, '[') + std::string(10000, ']') + "}";
}

std::string entry(const std::string& dtype, const std::string& shape, const std::string& offsets) {
  return "{\"dtype\": " + dtype + ", \"shape\": " + shape + ", \"data_offsets\": " + offsets + "}";
}

std::string f32(const std::string& shape, const std::string& offsets) {
  return entry("\"F32\"", shape, offsets);
}

const BadHeader kBadHeaders[] = {
    {"NotJson", "{\"w\": ", 0, {"not valid JSON"}},
    {"NotAnObject", "[1, 2]", 0, {"not a JSON object"}},
    {"AString", "\"w\"", 0, {"not a JSON object"}},
    {"NumberOutOfRange", "{\"w\": 1e999}", 0, {"not valid JSON"}},
    {"DeepNesting", deep_nesting(), 0, {"nests deeper"}},
    {"UnknownDtype",
     "{\"w\": " + entry("\"F7\"", "[1]", "[0, 1]") + "}",
     1,
     {"'w'", "unknown dtype 'F7'"}},
    {"DtypeF8E4M3",
     "{\"w\": " + entry("\"F8_E4M3\"", "[1]", "[0, 1]") + "}",
     1,
     {"'w'", "unsupported dtype 'F8_E4M3'"}},
    {"DtypeF8E5M2",
     "{\"w\": " + entry("\"F8_E5M2\"", "[1]", "[0, 1]") + "}",
     1,
     {"'w'", "unsupported dtype 'F8_E5M2'"}},
    {"DtypeNotString",
     "{\"w\": " + entry("5", "[1]", "[0, 4]") + "}",
     4,
     {"'w'", "dtype is not a string"}},
    {"EntryNotObject", "{\"w\": 3}", 0, {"'w'", "entry is not an object"}},
    {"MissingDtype",
     "{\"w\": {\"shape\": [1], \"data_offsets\": [0, 4]}}",
     4,
     {"'w'", "has no 'dtype'"}},
    {"MissingShape",
     "{\"w\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}",
     4,
     {"'w'", "has no 'shape'"}},
    {"MissingOffsets",
     "{\"w\": {\"dtype\": \"F32\", \"shape\": [1]}}",
     4,
     {"'w'", "has no 'data_offsets'"}},
    {"ShapeNotList", "{\"w\": " + f32("4", "[0, 4]") + "}", 4, {"'w'", "shape is not a list"}},
    {"NegativeDim",
     "{\"w\": " + f32("[2, -1]", "[0, 0]") + "}",
     0,
     {"'w'", "-1", "non-negative integer"}},
    {"FloatDim",
     "{\"w\": " + f32("[2.0]", "[0, 8]") + "}",
     8,
     {"'w'", "2.0", "non-negative integer"}},
    {"DimPast64Bits",
     "{\"w\": " + f32("[18446744073709551616]", "[0, 0]") + "}",
     0,
     {"'w'", "non-negative integer"}},
    {"DimPastInt64",
     "{\"w\": " + entry("\"U8\"", "[9223372036854775808]", "[0, 0]") + "}",
     0,
     {"'w'", "too large"}},
    {"ShapeOverflows",
     "{\"w\": " + f32("[4611686018427387904, 4]", "[0, 0]") + "}",
     0,
     {"'w'", "too large"}},
    {"ZeroDimDoesNotHideOverflow",
     "{\"w\": " + f32("[0, 4294967296, 4294967296]", "[0, 0]") + "}",
     0,
     {"'w'", "too large"}},
    {"OffsetsNotPair", "{\"w\": " + f32("[1]", "[0]") + "}", 4, {"'w'", "not a [begin, end] pair"}},
    {"OffsetNegative",
     "{\"w\": " + f32("[1]", "[-4, 0]") + "}",
     4,
     {"'w'", "data_offsets[0]", "non-negative integer"}},
    {"OffsetsEndBeforeBegin",
     "{\"w\": " + f32("[1]", "[8, 4]") + "}",
     8,
     {"'w'", "end before they begin"}},
    {"ShapeDoesNotMatchBytes",
     "{\"w\": " + f32("[3]", "[0, 8]") + "}",
     8,
     {"'w'", "needs 12 bytes", "hold 8"}},
    {"DtypeDoesNotMatchBytes",
     "{\"w\": " + entry("\"F64\"", "[2]", "[0, 8]") + "}",
     8,
     {"'w'", "needs 16 bytes"}},
    {"OffsetsOutOfRange",
     "{\"w\": " + f32("[4]", "[0, 16]") + "}",
     8,
     {"'w'", "past the end of the data"}},
    {"Overlapping",
     "{\"a\": " + f32("[2]", "[0, 8]") + ", \"b\": " + f32("[2]", "[4, 12]") + "}",
     12,
     {"'b'", "overlaps"}},
    {"Gap",
     "{\"a\": " + f32("[1]", "[0, 4]") + ", \"b\": " + f32("[1]", "[8, 12]") + "}",
     12,
     {"'b'", "gap of 4 bytes"}},
    {"NotCoveringData", "{\"a\": " + f32("[1]", "[0, 4]") + "}", 8, {"cover 4 of the 8"}},
    {"DuplicateTensor",
     "{\"w\": " + f32("[1]", "[0, 4]") + ", \"w\": " + f32("[1]", "[4, 8]") + "}",
     8,
     {"'w'", "twice"}},
    {"DuplicateField",
     "{\"w\": {\"dtype\": \"F32\", \"dtype\": \"F16\", \"shape\": [1], \"data_offsets\": [0, 4]}}",
     4,
     {"'w'", "'dtype' appears twice"}},
    {"MetadataValueNotString",
     "{\"__metadata__\": {\"format\": \"pt\", \"k\": 1}}",
     0,
     {"__metadata__ 'k'", "must be strings"}},
    {"MetadataNotObject", "{\"__metadata__\": \"pt\"}", 0, {"__metadata__ is not an object"}},
};

class BadSafetensorsHeader : public ::testing::TestWithParam<BadHeader> {};

TEST_P(BadSafetensorsHeader, ThrowsFileErrorNamingFileAndTensor) {
  const BadHeader& bad = GetParam();
  TempFolder folder;
  const auto path = folder / "bad.safetensors";
  write_bytes(path, file_bytes(bad.header, bad.data_bytes));
  const std::string message = open_error(path);
  EXPECT_TRUE(contains(message, path.string())) << message;
  for (const auto& part : bad.expected)
    EXPECT_TRUE(contains(message, part)) << message;
}

INSTANTIATE_TEST_SUITE_P(Cases, BadSafetensorsHeader, ::testing::ValuesIn(kBadHeaders),
                         [](const auto& info) { return std::string(info.param.label); });

// ------------------------------------------------------------ bad file framing

TEST(SafetensorsFile, RejectsFileShorterThanTheLengthPrefix) {
  TempFolder folder;
  for (const size_t size : {0, 5}) {
    const auto path = folder / ("short" + std::to_string(size) + ".safetensors");
    write_bytes(path, std::string(size, '\0'));
    const std::string message = open_error(path);
    EXPECT_TRUE(contains(message, path.string())) << message;
    EXPECT_TRUE(contains(message, "truncated")) << message;
  }
}

TEST(SafetensorsFile, RejectsDataCutShort) {
  TempFolder folder;
  const auto path = folder / "cut.safetensors";
  write_safetensors(path, {{"a", at::ones({4})}, {"b", at::ones({4})}});
  const std::string whole = read_bytes(path);
  write_bytes(path, whole.substr(0, whole.size() - 4));
  const std::string message = open_error(path);
  EXPECT_TRUE(contains(message, path.string())) << message;
  EXPECT_TRUE(contains(message, "'b'")) << message;
  EXPECT_TRUE(contains(message, "truncated")) << message;
}

TEST(SafetensorsFile, RejectsHeaderLengthPastTheEnd) {
  TempFolder folder;
  const auto path = folder / "long.safetensors";
  write_bytes(path, length_prefix(1000) + "{}");
  const std::string message = open_error(path);
  EXPECT_TRUE(contains(message, path.string())) << message;
  EXPECT_TRUE(contains(message, "runs past the end of the file")) << message;
}

TEST(SafetensorsFile, RejectsHeaderOver100MB) {
  TempFolder folder;
  const auto path = folder / "huge.safetensors";
  write_bytes(path, length_prefix(SafetensorsFile::kMaxHeaderBytes + 1) + "{}");
  const std::string message = open_error(path);
  EXPECT_TRUE(contains(message, path.string())) << message;
  EXPECT_TRUE(contains(message, "100 MB")) << message;
}

TEST(SafetensorsFile, RejectsMissingFileAndFolder) {
  TempFolder folder;
  EXPECT_TRUE(contains(open_error(folder / "absent.safetensors"), "does not exist"));
  EXPECT_TRUE(contains(open_error(folder.path()), "not a regular file"));
}

TEST(SafetensorsFile, UnknownTensorNamesFileAndTensor) {
  TempFolder folder;
  const auto path = folder / "one.safetensors";
  write_safetensors(path, {{"a", at::ones({2})}});
  const SafetensorsFile file(path);
  EXPECT_FALSE(file.contains("b"));
  const std::string message = error_message<FileError>([&] { file.tensor("b"); });
  EXPECT_TRUE(contains(message, path.string()) && contains(message, "'b'")) << message;
}

TEST(SafetensorsFile, AcceptsEmptyHeaderAndNullMetadata) {
  TempFolder folder;
  const auto path = folder / "empty.safetensors";
  write_bytes(path, file_bytes("{\"__metadata__\": null}", 0));
  const SafetensorsFile file(path);
  EXPECT_TRUE(file.tensors().empty());
  EXPECT_TRUE(file.metadata().empty());
}

TEST(SafetensorsLayout, InMemoryParseMatchesTheFile) {
  const SafetensorsBytes bytes = encode_safetensors({{"x", at::ones({3, 2})}}, {{"k", "v"}});
  const std::string whole = length_prefix(bytes.header.size()) + bytes.header + bytes.data;
  const SafetensorsLayout layout = parse_safetensors_layout(whole, "memory");
  EXPECT_EQ(layout.data_offset, 8 + bytes.header.size());
  ASSERT_EQ(layout.header.tensors.size(), 1u);
  EXPECT_EQ(layout.header.tensors[0].shape, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(layout.header.metadata.at("k"), "v");
  EXPECT_THROW(parse_safetensors_layout(whole.substr(0, whole.size() - 1), "memory"), FileError);
}

// ------------------------------------------------------------------ round trips

struct DtypeCase {
  at::ScalarType type;
  const char* name;
};

class SafetensorsRoundTrip : public ::testing::TestWithParam<DtypeCase> {};

TEST_P(SafetensorsRoundTrip, KeepsValuesShapeAndDtype) {
  const DtypeCase& c = GetParam();
  TempFolder folder;
  const auto path = folder / "all.safetensors";
  at::Tensor values = at::arange(-12, 12).reshape({2, 3, 4});
  values = c.type == at::kBool ? values.remainder(3).eq(0) : values.to(c.type);
  if (c.type == at::kByte)
    values = at::arange(0, 24).reshape({2, 3, 4}).to(at::kByte);
  const at::Tensor scalar = at::scalar_tensor(1, at::TensorOptions().dtype(c.type));
  const at::Tensor empty = at::empty({0, 3}, at::TensorOptions().dtype(c.type));
  write_safetensors(path, {{"values", values}, {"scalar", scalar}, {"empty", empty}},
                    {{"format", "pt"}});

  const SafetensorsFile file(path);
  EXPECT_EQ(file.metadata().at("format"), "pt");
  EXPECT_EQ(file.find("values")->dtype_name, c.name);
  const at::Tensor read = file.tensor("values");
  EXPECT_EQ(read.scalar_type(), c.type);
  EXPECT_EQ(read.sizes(), values.sizes());
  EXPECT_TRUE(at::equal(read, values));
  EXPECT_EQ(file.tensor("scalar").dim(), 0);
  EXPECT_TRUE(at::equal(file.tensor("scalar"), scalar));
  EXPECT_EQ(file.tensor("empty").sizes(), empty.sizes());
}

INSTANTIATE_TEST_SUITE_P(
    Dtypes, SafetensorsRoundTrip,
    ::testing::Values(DtypeCase{at::kFloat, "F32"}, DtypeCase{at::kHalf, "F16"},
                      DtypeCase{at::kBFloat16, "BF16"}, DtypeCase{at::kDouble, "F64"},
                      DtypeCase{at::kLong, "I64"}, DtypeCase{at::kInt, "I32"},
                      DtypeCase{at::kShort, "I16"}, DtypeCase{at::kChar, "I8"},
                      DtypeCase{at::kByte, "U8"}, DtypeCase{at::kBool, "BOOL"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(SafetensorsWriter, RejectsWhatTheFormatCannotHold) {
  TempFolder folder;
  const auto path = folder / "bad.safetensors";
  EXPECT_THROW(write_safetensors(path, {{"c", at::ones({2}, at::kComplexFloat)}}), UsageError);
  EXPECT_THROW(write_safetensors(path, {{"a", at::ones({2})}, {"a", at::ones({2})}}), UsageError);
  EXPECT_THROW(write_safetensors(path, {{"__metadata__", at::ones({2})}}), UsageError);
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(SafetensorsWriter, WritesNonContiguousTensorsAsTheirValues) {
  TempFolder folder;
  const auto path = folder / "t.safetensors";
  const at::Tensor transposed = at::arange(6, at::kFloat).reshape({2, 3}).t();
  write_safetensors(path, {{"t", transposed}});
  EXPECT_TRUE(at::equal(SafetensorsFile(path).tensor("t"), transposed));
}

// ------------------------------------------------------------- the mapping

TEST(SafetensorsFile, AlignedTensorIsAViewOfTheMappingThatOutlivesTheFile) {
  TempFolder folder;
  const auto path = folder / "view.safetensors";
  // "b" starts 12 bytes into the data: aligned for F32, not for F64.
  const at::Tensor a = at::arange(3, at::kFloat);
  const at::Tensor b = at::arange(2, at::kDouble);
  write_safetensors(path, {{"a", a}, {"b", b}});
  at::Tensor view;
  at::Tensor copy;
  {
    const SafetensorsFile file(path);
    view = file.tensor("a");
    copy = file.tensor("b");
    EXPECT_TRUE(is_inside_mapping(view, path));
    EXPECT_FALSE(is_inside_mapping(copy, path));
  }
  // The file object is gone; the view keeps the mapping alive.
  EXPECT_TRUE(is_inside_mapping(view, path));
  EXPECT_TRUE(at::equal(view, a));
  EXPECT_TRUE(at::equal(copy, b));
  view = at::Tensor();
  EXPECT_TRUE(mappings_of(path).empty());
}

TEST(SafetensorsFile, WritingIntoATensorNeverChangesTheFile) {
  TempFolder folder;
  const auto path = folder / "cow.safetensors";
  const at::Tensor original = at::arange(16, at::kFloat);
  write_safetensors(path, {{"w", original}});
  const std::string before = read_bytes(path);
  {
    const SafetensorsFile file(path);
    at::Tensor w = file.tensor("w");
    ASSERT_TRUE(is_inside_mapping(w, path));
    w.fill_(42.0f);
    EXPECT_EQ(w[3].item<float>(), 42.0f);
  }
  EXPECT_EQ(read_bytes(path), before);
  EXPECT_TRUE(at::equal(SafetensorsFile(path).tensor("w"), original));
}

}  // namespace
}  // namespace xdit::io
