#include "parallel/comm_stats.hpp"

#include <nlohmann/json.hpp>

#include "parallel/comm_timeline.hpp"

namespace xdit::parallel {
namespace {

nlohmann::json counters_json(const OpCounters& c) {
  return {{"calls", c.calls},
          {"bytes_sent", c.bytes_sent},
          {"bytes_received", c.bytes_received},
          {"wait_seconds", c.wait_seconds}};
}

}  // namespace

std::string_view op_name(CommOp op) {
  switch (op) {
    case CommOp::kSend:
      return "send";
    case CommOp::kRecv:
      return "recv";
    case CommOp::kAllGather:
      return "all_gather";
    case CommOp::kAllToAll:
      return "all_to_all";
    case CommOp::kAllReduce:
      return "all_reduce";
    case CommOp::kBroadcast:
      return "broadcast";
    case CommOp::kBarrier:
      return "barrier";
  }
  return "?";
}

OpCounters& OpCounters::operator+=(const OpCounters& other) {
  calls += other.calls;
  bytes_sent += other.bytes_sent;
  bytes_received += other.bytes_received;
  wait_seconds += other.wait_seconds;
  return *this;
}

void CommStats::record(CommOp op, int64_t bytes_sent, int64_t bytes_received) {
  OpCounters& c = counters_[static_cast<int>(op)];
  c.calls += 1;
  c.bytes_sent += bytes_sent;
  c.bytes_received += bytes_received;
}

void CommStats::add_wait(CommOp op, double seconds) {
  counters_[static_cast<int>(op)].wait_seconds += seconds;
}

void CommStats::add_wait(CommOp op, std::chrono::steady_clock::time_point begin,
                         std::chrono::steady_clock::time_point end) {
  add_wait(op, std::chrono::duration<double>(end - begin).count());
  if (timeline_)
    timeline_->add(op, begin, end);
}

OpCounters CommStats::total() const {
  OpCounters sum;
  for (const OpCounters& c : counters_)
    sum += c;
  return sum;
}

nlohmann::json CommStats::to_json() const {
  nlohmann::json out = nlohmann::json::object();
  for (int i = 0; i < kCommOpCount; ++i) {
    if (counters_[i].calls > 0) {
      out[std::string(op_name(static_cast<CommOp>(i)))] = counters_json(counters_[i]);
    }
  }
  out["total"] = counters_json(total());
  return out;
}

}  // namespace xdit::parallel
