#pragma once
// When, within one denoising step, a rank was blocked in communication: the
// intervals it waited for each operation, the rest of the step being compute.
// The Studio draws the last step of every rank side by side (a Gantt chart),
// which shows who waits for whom. CommStats feeds a CommTimeline while one is
// attached (CommStats::trace); the worker cuts out the step it reports.

#include <chrono>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "parallel/comm_stats.hpp"

namespace xdit::parallel {

struct CommInterval {
  CommOp op = CommOp::kBarrier;
  double start = 0;  // seconds from the step's start
  double end = 0;
};

struct StepTimeline {
  int64_t step = 0;                 // steps completed at its end (1-based); 0: nothing recorded
  double seconds = 0;               // the step's duration on this rank
  std::vector<CommInterval> waits;  // by start, each within [0, seconds)

  double wait_seconds() const;
};

// {"step": 20, "seconds": 0.41, "waits": [{"op": "all_to_all", "start": .., "end": ..}, ..]}
nlohmann::json to_json(const StepTimeline& timeline);
// ConfigError naming `source` and the key when `json` is not a timeline.
StepTimeline step_timeline_from_json(const nlohmann::json& json, const std::string& source);

// Not synchronised, like CommStats: one thread drives a rank's communicator.
class CommTimeline {
 public:
  using Clock = std::chrono::steady_clock;

  void add(CommOp op, Clock::time_point begin, Clock::time_point end);
  void clear() { waits_.clear(); }

  // The step that ended at `end` after `seconds`: the waits recorded since
  // clear() that overlap it, clipped to it, relative to its start.
  StepTimeline cut(int64_t step, Clock::time_point end, double seconds) const;

 private:
  struct Wait {
    CommOp op;
    Clock::time_point begin;
    Clock::time_point end;
  };
  std::vector<Wait> waits_;
};

}  // namespace xdit::parallel
