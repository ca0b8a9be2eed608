#pragma once
// A process's memory as the kernel counts it: what it holds now (resident
// set) and the most it held since it started. On CPU this is what a rank's
// weights, activations and buffers cost; the Studio charts both per rank.

#include <cstdint>
#include <nlohmann/json.hpp>

namespace xdit::workers {

struct MemorySample {
  int64_t rss_bytes = 0;
  int64_t peak_rss_bytes = 0;
};

// Of the calling process; zeros where the kernel does not say.
MemorySample sample_memory();

nlohmann::json to_json(const MemorySample& sample);
MemorySample memory_from_json(const nlohmann::json& json);

}  // namespace xdit::workers
