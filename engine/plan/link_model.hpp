#pragma once
// The link between the ranks of a mesh as the planner models it (α-β): a
// message of b bytes costs α + b / β, with α the latency and β the
// bandwidth a rank gets. Collectives are already counted as the bytes each
// rank sends (bench/comm_model.hpp: a ring all-reduce 2(N-1)/N of its
// tensor), so the bus factor is in the bytes and the link needs only α, β.

#include <array>
#include <string>
#include <vector>

namespace xdit::plan {

// How the methods talk (bench/comm_model.hpp counts each one's bytes).
enum class Collective { kPointToPoint, kAllToAll, kAllReduce, kAllGather };

struct LinkModel {
  std::string name;
  double bandwidth = 0;  // β, bytes per second per rank and direction
  double latency = 0;    // α, seconds per message
  // Per collective (indexed by Collective): its seconds per counted byte
  // over a point-to-point exchange's. 1 for the presets; a measured link
  // has its own (Gloo's all-reduce on a CPU sums with the rank's core, and
  // every collective copies through its own buffers).
  std::array<double, 4> slowdown = {1, 1, 1, 1};

  // The time to send `bytes` in `messages` messages of collective `kind`.
  double seconds(double bytes, double messages, Collective kind = Collective::kPointToPoint) const;
};

// The presets of --interconnect, stated assumptions rather than
// measurements (an explicit --bandwidth / --latency, or --calibrate,
// replaces them):
//   nvlink    200 GB/s,  5 µs  (A100/H100 NVLink through NCCL)
//   pcie       20 GB/s, 10 µs  (GPUs on PCIe 4.0 without NVLink)
//   ethernet  1.1 GB/s, 50 µs  (10 GbE between machines)
// UsageError listing the names for another.
LinkModel link_preset(const std::string& name);
std::vector<std::string> link_preset_names();

// An explicit link: UsageError unless the bandwidth is positive and the
// latency not negative.
LinkModel link_of(double bandwidth_bytes_per_second, double latency_seconds);

}  // namespace xdit::plan
