#pragma once
// `xdit plan --calibrate`: measures what the planner's model needs of this
// machine, in this process:
//   rate    a real transformer step of a calibration model (a built-in
//           bench model, random weights) on the given threads, its FLOPs
//           as the planner counts them over the median step time: the
//           step's own efficiency, attention and small layers included;
//   link    two ranks exchanging messages (plan/link_probe.hpp);
//   base    the resident memory of the run beyond what the planner predicts
//           for it: the runtime, allocator slack, and whatever activations
//           the planner's 12·d per token leaves out.

#include <cstdint>
#include <functional>
#include <string>

#include "plan/calibration.hpp"

namespace xdit::plan {

struct CalibrateOptions {
  std::string model = "builtin:bench-pixart";
  int threads = 1;          // of a rank: one per core in a CPU group
  int64_t size = 512;       // pixels per side
  int64_t timed_steps = 4;  // after one untimed step
};

// `say` gets a line per stage. Throws what loading or the communicator
// throws.
Calibration calibrate(const CalibrateOptions& options,
                      const std::function<void(const std::string&)>& say = {});

}  // namespace xdit::plan
