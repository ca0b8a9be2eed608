#include "workers/control_protocol.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <thread>

#include "workers/control_channel.hpp"
#include "workers/tensor_json.hpp"
#include "workers/worker_error.hpp"

namespace xdit::workers {
namespace {

template <typename T>
T round_trip(const T& message) {
  const std::string line = encode(message);
  EXPECT_EQ(line.find('\n'), std::string::npos) << "a message must be one line";
  Message decoded = decode(line);
  EXPECT_TRUE(std::holds_alternative<T>(decoded)) << message_name(decoded);
  return std::get<T>(decoded);
}

TEST(Base64, RoundTripsEveryTailLength) {
  const std::vector<std::string> texts = {"",    "a",    "ab",
                                          "abc", "abcd", std::string("\0\xff\x10", 3)};
  for (const std::string& text : texts) {
    EXPECT_EQ(base64_decode(base64_encode(text)), text);
  }
  EXPECT_EQ(base64_encode("Man"), "TWFu");
  EXPECT_EQ(base64_encode("Ma"), "TWE=");
  EXPECT_THROW(base64_decode("TW!u"), ProtocolError);
}

TEST(TensorJson, KeepsDtypeShapeAndValues) {
  const at::Tensor floats = at::randn({2, 3, 4});
  EXPECT_TRUE(at::equal(tensor_from_json(tensor_to_json(floats), "t"), floats));
  // Non-contiguous input is sent as its values.
  const at::Tensor bytes = at::arange(24, at::kByte).reshape({2, 3, 4}).permute({2, 0, 1});
  EXPECT_TRUE(at::equal(tensor_from_json(tensor_to_json(bytes), "t"), bytes));
  EXPECT_FALSE(tensor_from_json(tensor_to_json(at::Tensor()), "t").defined());
  nlohmann::json short_data = tensor_to_json(floats);
  short_data["shape"] = {2, 3, 5};
  EXPECT_THROW(tensor_from_json(short_data, "t"), ProtocolError);
}

TEST(ControlProtocol, RequestAndSetupRoundTrip) {
  RequestMessage request;
  request.id = 7;
  request.request.prompts = {"a fox", "a \"quoted\"\nline"};
  request.request.height = 256;
  request.request.seed = 12345678901234ULL;
  request.preview_every = 3;
  const auto got = round_trip(request);
  EXPECT_EQ(got.id, 7);
  EXPECT_EQ(got.request.prompts, request.request.prompts);
  EXPECT_EQ(got.request.height, 256);
  EXPECT_EQ(got.request.seed, request.request.seed);
  EXPECT_EQ(got.preview_every, 3);

  SetupMessage setup;
  setup.spec.model = "/models/pixart";
  setup.spec.world_size = 4;
  setup.spec.parallel.cfg_degree = 2;
  setup.spec.parallel.ulysses_degree = 2;
  setup.spec.parallel.num_pipeline_patch = 3;
  setup.spec.comm_timeout = std::chrono::seconds(42);
  const auto spec = round_trip(setup).spec;
  EXPECT_EQ(spec.model, "/models/pixart");
  EXPECT_EQ(spec.world_size, 4);
  EXPECT_EQ(spec.parallel.describe(), setup.spec.parallel.describe());
  EXPECT_EQ(spec.parallel.num_pipeline_patch, 3);
  EXPECT_EQ(spec.comm_timeout, std::chrono::seconds(42));
}

TEST(ControlProtocol, ResultCarriesImagesAndLatents) {
  ResultMessage message;
  message.id = 2;
  message.result.images = at::randint(0, 255, {1, 8, 16, 3}, at::kByte);
  message.result.latents = at::randn({1, 4, 1, 2});
  message.result.height = 8;
  message.result.width = 16;
  message.result.step_seconds = {0.5, 0.25};
  const auto got = round_trip(message);
  EXPECT_TRUE(at::equal(got.result.images, message.result.images));
  EXPECT_TRUE(at::equal(got.result.latents, message.result.latents));
  EXPECT_EQ(got.result.step_seconds, message.result.step_seconds);
  EXPECT_EQ(got.result.width, 16);
}

TEST(ControlProtocol, MetricsProgressAndErrorsKeepTheirRank) {
  ProgressMessage progress{1, 3, 2, 20, 0.125, {{"total", {{"bytes_sent", 10}}}}, {100, 200}};
  const auto p = round_trip(progress);
  EXPECT_EQ(p.rank, 3);
  EXPECT_EQ(p.step, 2);
  EXPECT_EQ(p.comm["total"]["bytes_sent"], 10);
  EXPECT_EQ(p.memory.peak_rss_bytes, 200);
  const auto e = round_trip(ErrorMessage{1, "file", "weights are broken"});
  EXPECT_EQ(e.rank, 1);
  EXPECT_EQ(e.kind, "file");
  EXPECT_EQ(e.message, "weights are broken");
  EXPECT_TRUE(std::holds_alternative<ShutdownMessage>(decode(encode(ShutdownMessage{}))));
}

TEST(ControlProtocol, ProgressCarriesTheRanksGpuMemory) {
  GpuSample gpu;
  gpu.index = 1;
  gpu.name = "NVIDIA H200";
  gpu.allocated_bytes = 3;
  gpu.peak_allocated_bytes = 7;
  gpu.reserved_bytes = 8;
  gpu.device_used_bytes = 9;
  gpu.device_total_bytes = 100;
  gpu.utilization_percent = 42;
  const auto p = round_trip(ProgressMessage{1, 0, 1, 2, 0.5, {}, {100, 200, gpu}});
  ASSERT_TRUE(p.memory.gpu.has_value());
  EXPECT_EQ(p.memory.gpu->label(), "cuda:1 (NVIDIA H200)");
  EXPECT_EQ(p.memory.gpu->peak_allocated_bytes, 7);
  EXPECT_EQ(p.memory.gpu->reserved_bytes, 8);
  EXPECT_EQ(p.memory.gpu->device_used_bytes, 9);
  EXPECT_EQ(p.memory.gpu->device_total_bytes, 100);
  EXPECT_EQ(p.memory.gpu->utilization_percent, 42);
  // A rank on a GPU is charted by its GPU's peak, one on a CPU by its RSS.
  EXPECT_EQ(peak_bytes(p.memory), 7);
  EXPECT_EQ(peak_bytes(MemorySample{100, 200, std::nullopt}), 200);
  EXPECT_FALSE(round_trip(ProgressMessage{1, 0, 1, 2, 0.5, {}, {100, 200}}).memory.gpu);
}

TEST(ControlProtocol, RefusesOtherVersionsAndGarbage) {
  nlohmann::json other = nlohmann::json::parse(encode(ShutdownMessage{}));
  other["v"] = kProtocolVersion + 1;
  try {
    decode(other.dump());
    FAIL() << "accepted another version";
  } catch (const ProtocolError& e) {
    EXPECT_NE(std::string(e.what()).find("different builds"), std::string::npos) << e.what();
  }
  EXPECT_THROW(decode("not json"), ProtocolError);
  EXPECT_THROW(decode(R"({"v": 1, "type": "teleport"})"), ProtocolError);
  EXPECT_THROW(decode(R"({"v": 1, "type": "request", "id": "x"})"), ProtocolError);
}

TEST(ControlChannel, DeliversLargeMessagesAndSeesThePeerClose) {
  auto [a, b] = ControlChannel::make_pair();
  ResultMessage big;
  big.result.latents = at::randn({4, 4, 256, 256});  // 4 MiB: many reads
  std::thread writer([&a, &big] {
    a.send(big);
    a.send(ShutdownMessage{});
    a = ControlChannel(-1);  // closes the writer's end
  });
  std::vector<Message> received;
  while (!b.closed()) {
    for (auto& m : b.receive())
      received.push_back(std::move(m));
  }
  writer.join();
  ASSERT_EQ(received.size(), 2u);
  EXPECT_TRUE(at::equal(std::get<ResultMessage>(received[0]).result.latents, big.result.latents));
  EXPECT_TRUE(std::holds_alternative<ShutdownMessage>(received[1]));
  EXPECT_THROW(b.send(ShutdownMessage{}), WorkerError);
}

}  // namespace
}  // namespace xdit::workers
