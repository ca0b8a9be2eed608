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
  explicit ProgressBar(std::string label);
  // `done` steps of `total` are complete.
  void update(int64_t done, int64_t total);
  void finish();

 private:
  std::string label_;
  std::chrono::steady_clock::time_point start_;
  bool interactive_;
  bool finished_ = false;
};

}  // namespace xdit::app
