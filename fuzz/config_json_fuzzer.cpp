// Feeds arbitrary bytes to the JSON reader behind every config.json,
// model_index.json and shard index (Python's Infinity/NaN accepted). It must
// throw FileError or return JSON that survives being written back and read
// again; anything else is a crash.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/error.hpp"
#include "io/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const nlohmann::json json = xdit::io::parse_json(text, "fuzz.json");
    xdit::io::parse_json(xdit::io::dump_json(json), "fuzz.json (written back)");
  } catch (const xdit::FileError&) {
  }
  return 0;
}
