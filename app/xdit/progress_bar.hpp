#pragma once
// A one-line progress bar on stderr: step i/N, seconds per step and ETA.
// On a terminal it redraws in place; otherwise (logs, CI) it prints a line
// per update so that the output stays readable.

#include <chrono>
#include <cstdint>
#include <string>

namespace xdit::app {

class ProgressBar {
 public:
  // `already_done`: steps finished before this bar started (a resumed run),
  // left out of the rate.
  explicit ProgressBar(std::string label, int64_t already_done = 0);
  // `done` steps of `total` are complete; `detail` follows the ETA ("loss 0.12").
  void update(int64_t done, int64_t total, const std::string& detail = "");
  void finish();

 private:
  std::string label_;
  int64_t already_done_;
  std::chrono::steady_clock::time_point start_;
  bool interactive_;
  bool finished_ = false;
};

}  // namespace xdit::app
