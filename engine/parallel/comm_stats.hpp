#pragma once
// What one rank's communication cost, per kind of operation: calls, bytes
// sent and received, and the time spent blocked waiting for completion. The
// worker resets it at the start of each denoising step and reports a snapshot
// at the end, so that benches, reports and the Studio read the same numbers.
//
// Bytes are logical payload, independent of the backend's algorithm, so that
// they can be compared with the cost model of each method:
//   send/recv        the tensor
//   all_gather       own piece to each of the n-1 others (and n-1 pieces in)
//   all_to_all       every chunk except the one kept
//   all_reduce       2(n-1)/n of the tensor each way (a bandwidth-optimal ring)
//   broadcast        root: the tensor to each of n-1 others; others: it once in
//   barrier          nothing

#include <array>
#include <chrono>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string_view>

namespace xdit::parallel {

class CommTimeline;

enum class CommOp { kSend, kRecv, kAllGather, kAllToAll, kAllReduce, kBroadcast, kBarrier };
inline constexpr int kCommOpCount = 7;

std::string_view op_name(CommOp op);

struct OpCounters {
  int64_t calls = 0;
  int64_t bytes_sent = 0;
  int64_t bytes_received = 0;
  double wait_seconds = 0.0;  // blocked in the call or in wait() of its handle

  OpCounters& operator+=(const OpCounters& other);
};

// Not synchronised: one thread drives a rank's communicator.
class CommStats {
 public:
  void record(CommOp op, int64_t bytes_sent, int64_t bytes_received);
  void add_wait(CommOp op, double seconds);
  // add_wait, and the interval into the timeline being traced, if any.
  void add_wait(CommOp op, std::chrono::steady_clock::time_point begin,
                std::chrono::steady_clock::time_point end);
  void reset() { counters_ = {}; }
  // Records every wait's interval into `timeline` (not owned) until called
  // with null; reset() leaves it attached.
  void trace(CommTimeline* timeline) { timeline_ = timeline; }

  const OpCounters& of(CommOp op) const { return counters_[static_cast<int>(op)]; }
  OpCounters total() const;
  // {"all_reduce": {"calls": .., "bytes_sent": .., ...}, ..., "total": {...}};
  // operations never called are left out.
  nlohmann::json to_json() const;

 private:
  std::array<OpCounters, kCommOpCount> counters_{};
  CommTimeline* timeline_ = nullptr;
};

}  // namespace xdit::parallel
