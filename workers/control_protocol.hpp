#pragma once
// The messages between a launcher and its workers: one JSON object per line,
// {"v": kProtocolVersion, "type": "...", ...}. Each worker has its own
// channel, so every message from a worker is from one known rank.
//
//   launcher → worker   setup (once, first), request, shutdown
//   worker → launcher   ready (pipeline loaded), progress (every step, every
//                       rank), preview (rank 0, every k steps), metrics (end
//                       of a request, every rank), result (rank 0), error
//
// A request is answered by a result from rank 0 and metrics from every rank;
// an error ends the worker, and the launcher then stops the whole group.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "parallel/comm_timeline.hpp"
#include "pipelines/generation.hpp"
#include "workers/group_spec.hpp"
#include "workers/memory_sample.hpp"

namespace xdit::workers {

// Raised whenever a message changes meaning; both ends refuse other versions.
inline constexpr int kProtocolVersion = 1;

struct SetupMessage {
  GroupSpec spec;  // `model` is a resolved folder
};

struct RequestMessage {
  int64_t id = 0;
  pipelines::GenerationRequest request;
  int64_t preview_every = 0;  // latents of every k-th step from rank 0; 0: none
};

struct ShutdownMessage {};

struct ReadyMessage {
  int rank = 0;
  double load_seconds = 0;
  MemorySample memory;
  // The transformer's tensors this rank holds (its stage and tensor shard).
  int64_t transformer_parameter_bytes = 0;
};

struct ProgressMessage {
  int64_t id = 0;
  int rank = 0;
  int64_t step = 0;  // steps completed
  int64_t total = 0;
  double seconds = 0;   // of this step on this rank
  nlohmann::json comm;  // parallel::CommStats::to_json() of this step
  MemorySample memory;
};

struct PreviewMessage {
  int64_t id = 0;
  int64_t step = 0;
  at::Tensor latents;  // float32 [N, C, h, w]
};

struct MetricsMessage {
  int64_t id = 0;
  int rank = 0;
  std::vector<double> step_seconds;
  double encode_seconds = 0;
  double decode_seconds = 0;
  nlohmann::json comm;  // the whole request, summed over its steps
  MemorySample memory;
  // When this rank waited on its peers during the last denoising step.
  parallel::StepTimeline timeline;
};

struct ResultMessage {
  int64_t id = 0;
  pipelines::GenerationResult result;
};

struct ErrorMessage {
  int rank = 0;
  // "usage", "config", "file", "weight", "comm" or "internal": what kind of
  // xdit::Error the worker caught, so the launcher can tell a root cause
  // from ranks that only lost a peer ("comm").
  std::string kind;
  std::string message;
};

using Message =
    std::variant<SetupMessage, RequestMessage, ShutdownMessage, ReadyMessage, ProgressMessage,
                 PreviewMessage, MetricsMessage, ResultMessage, ErrorMessage>;

// One line of JSON, without the newline.
std::string encode(const Message& message);
// Throws ProtocolError for text that is not a message of this version.
Message decode(std::string_view line);

// "setup", "request", ...: for messages about unexpected messages.
std::string_view message_name(const Message& message);

}  // namespace xdit::workers
