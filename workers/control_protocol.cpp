#include "workers/control_protocol.hpp"

#include <array>

#include "io/config.hpp"
#include "workers/tensor_json.hpp"
#include "workers/worker_error.hpp"

namespace xdit::workers {
namespace {

using nlohmann::json;

// In the order of the Message alternatives.
constexpr std::array<std::string_view, std::variant_size_v<Message>> kNames = {
    "setup", "request", "shutdown", "ready", "progress", "preview", "metrics", "result", "error"};

json result_to_json(const pipelines::GenerationResult& r) {
  return {{"images", tensor_to_json(r.images)},
          {"latents", tensor_to_json(r.latents)},
          {"height", r.height},
          {"width", r.width},
          {"generated_height", r.generated_height},
          {"generated_width", r.generated_width},
          {"step_seconds", r.step_seconds},
          {"encode_seconds", r.encode_seconds},
          {"decode_seconds", r.decode_seconds}};
}

pipelines::GenerationResult result_from_json(const io::Config& c) {
  pipelines::GenerationResult r;
  r.images = tensor_from_json(c.json().at("images"), c.source() + ":images");
  r.latents = tensor_from_json(c.json().at("latents"), c.source() + ":latents");
  r.height = c.get<int64_t>("height");
  r.width = c.get<int64_t>("width");
  r.generated_height = c.get<int64_t>("generated_height");
  r.generated_width = c.get<int64_t>("generated_width");
  r.step_seconds = c.get<std::vector<double>>("step_seconds");
  r.encode_seconds = c.get<double>("encode_seconds");
  r.decode_seconds = c.get<double>("decode_seconds");
  return r;
}

json body(const SetupMessage& m) {
  return {{"spec", to_json(m.spec)}};
}
json body(const RequestMessage& m) {
  return {
      {"id", m.id}, {"request", pipelines::to_json(m.request)}, {"preview_every", m.preview_every}};
}
json body(const ShutdownMessage&) {
  return json::object();
}
json body(const ReadyMessage& m) {
  return {{"rank", m.rank},
          {"load_seconds", m.load_seconds},
          {"memory", to_json(m.memory)},
          {"transformer_parameter_bytes", m.transformer_parameter_bytes}};
}
json body(const ProgressMessage& m) {
  return {{"id", m.id},
          {"rank", m.rank},
          {"step", m.step},
          {"total", m.total},
          {"seconds", m.seconds},
          {"comm", m.comm},
          {"memory", to_json(m.memory)}};
}
json body(const PreviewMessage& m) {
  return {{"id", m.id}, {"step", m.step}, {"latents", tensor_to_json(m.latents)}};
}
json body(const MetricsMessage& m) {
  return {{"id", m.id},
          {"rank", m.rank},
          {"step_seconds", m.step_seconds},
          {"encode_seconds", m.encode_seconds},
          {"decode_seconds", m.decode_seconds},
          {"comm", m.comm},
          {"memory", to_json(m.memory)},
          {"timeline", parallel::to_json(m.timeline)}};
}
json body(const ResultMessage& m) {
  return {{"id", m.id}, {"result", result_to_json(m.result)}};
}
json body(const ErrorMessage& m) {
  return {{"rank", m.rank}, {"kind", m.kind}, {"message", m.message}};
}

json object_or_empty(const io::Config& c, std::string_view key) {
  return c.has(key) ? c.json().at(std::string(key)) : json::object();
}

Message from_body(std::string_view type, const io::Config& c) {
  if (type == "setup") {
    const io::Config spec = c.child("spec");
    return SetupMessage{group_spec_from_json(spec.json(), spec.source())};
  }
  if (type == "request") {
    const io::Config request = c.child("request");
    return RequestMessage{c.get<int64_t>("id"),
                          pipelines::request_from_json(request.json(), request.source()),
                          c.get_or<int64_t>("preview_every", 0)};
  }
  if (type == "shutdown")
    return ShutdownMessage{};
  if (type == "ready") {
    return ReadyMessage{c.get<int>("rank"), c.get<double>("load_seconds"),
                        memory_from_json(object_or_empty(c, "memory")),
                        c.get_or<int64_t>("transformer_parameter_bytes", 0)};
  }
  if (type == "progress") {
    return ProgressMessage{c.get<int64_t>("id"),
                           c.get<int>("rank"),
                           c.get<int64_t>("step"),
                           c.get<int64_t>("total"),
                           c.get<double>("seconds"),
                           object_or_empty(c, "comm"),
                           memory_from_json(object_or_empty(c, "memory"))};
  }
  if (type == "preview") {
    return PreviewMessage{c.get<int64_t>("id"), c.get<int64_t>("step"),
                          tensor_from_json(c.json().at("latents"), c.source() + ":latents")};
  }
  if (type == "metrics") {
    return MetricsMessage{c.get<int64_t>("id"),
                          c.get<int>("rank"),
                          c.get<std::vector<double>>("step_seconds"),
                          c.get<double>("encode_seconds"),
                          c.get<double>("decode_seconds"),
                          object_or_empty(c, "comm"),
                          memory_from_json(object_or_empty(c, "memory")),
                          parallel::step_timeline_from_json(object_or_empty(c, "timeline"),
                                                            c.source() + ":timeline")};
  }
  if (type == "result") {
    return ResultMessage{c.get<int64_t>("id"), result_from_json(c.child("result"))};
  }
  if (type == "error") {
    return ErrorMessage{c.get<int>("rank"), c.get<std::string>("kind"),
                        c.get<std::string>("message")};
  }
  throw ProtocolError("unknown control message type '" + std::string(type) + "'");
}

}  // namespace

std::string_view message_name(const Message& message) {
  return kNames[message.index()];
}

std::string encode(const Message& message) {
  json j = std::visit([](const auto& m) { return body(m); }, message);
  j["v"] = kProtocolVersion;
  j["type"] = message_name(message);
  return j.dump();
}

Message decode(std::string_view line) {
  json j;
  try {
    j = json::parse(line);
  } catch (const json::exception& e) {
    throw ProtocolError(std::string("a control message is not JSON: ") + e.what());
  }
  if (!j.is_object() || !j.contains("v") || !j.contains("type")) {
    throw ProtocolError("a control message lacks its version or type");
  }
  if (j["v"] != kProtocolVersion) {
    throw ProtocolError("control protocol version " + j["v"].dump() + " received, but this is " +
                        "version " + std::to_string(kProtocolVersion) +
                        ": the launcher and xdit-worker come from different builds");
  }
  const io::Config config(j, "control message '" + j["type"].dump() + "'");
  try {
    return from_body(config.get<std::string>("type"), config);
  } catch (const ConfigError& e) {
    throw ProtocolError(e.what());
  } catch (const json::exception& e) {
    throw ProtocolError(config.source() + ": " + e.what());
  }
}

}  // namespace xdit::workers
