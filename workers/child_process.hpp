#pragma once
// A process started with posix_spawn and owned by this object: destroying it
// kills and reaps the process if it still runs, so that no exception or early
// return can leave a worker behind. posix_spawn, not fork: the parent runs
// LibTorch threads (and Qt in the Studio), and a forked child would inherit
// their locks held forever.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace xdit::workers {

struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0] is the executable's path
  std::vector<std::string> env;   // the whole environment, "NAME=value"
  // Descriptors given to the child: {descriptor here, number in the child}.
  std::vector<std::pair<int, int>> fds;
  // stdout and stderr into this file; unset: the parent's.
  std::optional<std::filesystem::path> log;
  // 0: a new process group led by the child; a pid: join that group; unset:
  // the parent's group.
  std::optional<pid_t> process_group;
};

class ChildProcess {
 public:
  // Throws WorkerError naming the executable when it cannot be started.
  static ChildProcess spawn(const SpawnOptions& options);

  ChildProcess() = default;
  ~ChildProcess();
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  // Reaps the process if it has ended, without blocking; true once it has.
  bool poll();
  bool exited() const { return exited_; }
  // Waits until it ends or `timeout` passes; true when it has ended.
  bool wait_for(std::chrono::milliseconds timeout);
  // Sends `signal` unless the process has already been reaped (its pid may
  // then belong to another process).
  void signal(int signal);
  // SIGKILL and reap: always ends the process.
  void kill_and_reap() noexcept;

  // "exited with status 1", "was killed by signal 9 (Killed)"; after exited().
  std::string describe_exit() const;
  bool exited_cleanly() const;

 private:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}

  pid_t pid_ = -1;
  bool exited_ = false;
  int status_ = 0;
};

// Exit status + signal as words, for a waitpid status.
std::string describe_wait_status(int status);

}  // namespace xdit::workers
