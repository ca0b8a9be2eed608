#pragma once
// While it lives, SIGINT (Ctrl-C) and SIGTERM cancel a Launcher instead of
// killing the process, so that the launcher stops its workers in order and
// reports the interruption. The previous handlers come back afterwards. For
// command-line programs; one at a time per process.

#include <csignal>

#include "workers/launcher.hpp"

namespace xdit::workers {

class CancelOnSignal {
 public:
  explicit CancelOnSignal(Launcher& launcher);
  ~CancelOnSignal();
  CancelOnSignal(const CancelOnSignal&) = delete;
  CancelOnSignal& operator=(const CancelOnSignal&) = delete;

  // The signal that cancelled the launcher, or 0.
  static int received();

 private:
  struct sigaction previous_int_ {};
  struct sigaction previous_term_ {};
};

}  // namespace xdit::workers
