#include "workers/child_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "workers/worker_error.hpp"

namespace xdit::workers {
namespace {

// Above any descriptor number a child is given.
constexpr int kFirstFreeDescriptor = 64;

std::vector<char*> pointers(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (const auto& s : strings)
    out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// posix_spawn's attribute and file-action objects, freed on every path.
struct SpawnSetup {
  posix_spawnattr_t attr;
  posix_spawn_file_actions_t actions;
  SpawnSetup() {
    ::posix_spawnattr_init(&attr);
    ::posix_spawn_file_actions_init(&actions);
  }
  std::vector<int> copies;  // descriptors duplicated for the child, closed afterwards
  ~SpawnSetup() {
    for (int fd : copies)
      ::close(fd);
    ::posix_spawn_file_actions_destroy(&actions);
    ::posix_spawnattr_destroy(&attr);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
};

}  // namespace

std::string describe_wait_status(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    return "was killed by signal " + std::to_string(sig) + " (" + ::strsignal(sig) + ")";
  }
  if (WIFEXITED(status))
    return "exited with status " + std::to_string(WEXITSTATUS(status));
  return "ended with wait status " + std::to_string(status);
}

ChildProcess ChildProcess::spawn(const SpawnOptions& options) {
  SpawnSetup setup;
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  // A child starts with no signal blocked and the default action for the
  // signals a parent commonly handles or ignores (the CLI catches SIGINT),
  // so that SIGTERM ends a worker and a dead peer's socket raises no
  // surprise.
  sigset_t none;
  sigemptyset(&none);
  ::posix_spawnattr_setsigmask(&setup.attr, &none);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT})
    sigaddset(&defaults, sig);
  ::posix_spawnattr_setsigdefault(&setup.attr, &defaults);
  if (options.process_group) {
    flags |= POSIX_SPAWN_SETPGROUP;
    ::posix_spawnattr_setpgroup(&setup.attr, *options.process_group);
  }
  ::posix_spawnattr_setflags(&setup.attr, flags);

  ::posix_spawn_file_actions_addopen(&setup.actions, 0, "/dev/null", O_RDONLY, 0);
  if (options.log) {
    ::posix_spawn_file_actions_addopen(&setup.actions, 1, options.log->c_str(),
                                       O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::posix_spawn_file_actions_adddup2(&setup.actions, 1, 2);
  }
  for (const auto& [from, to] : options.fds) {
    // dup2 clears close-on-exec on its copy only when the numbers differ, and
    // a source may sit on another mapping's target number: a fresh copy
    // above every target avoids both.
    const int copy = ::fcntl(from, F_DUPFD_CLOEXEC, kFirstFreeDescriptor);
    if (copy < 0) {
      throw WorkerError(WorkerError::kNoRank, "cannot pass a descriptor to " + options.argv[0] +
                                                  ": " + std::strerror(errno));
    }
    setup.copies.push_back(copy);
    ::posix_spawn_file_actions_adddup2(&setup.actions, copy, to);
  }

  const auto argv = pointers(options.argv);
  const auto envp = pointers(options.env);
  pid_t pid = -1;
  const int error =
      ::posix_spawn(&pid, argv[0], &setup.actions, &setup.attr, argv.data(), envp.data());
  if (error != 0) {
    throw WorkerError(WorkerError::kNoRank,
                      "cannot start " + options.argv[0] + ": " + std::strerror(error));
  }
  return ChildProcess(pid);
}

ChildProcess::~ChildProcess() {
  kill_and_reap();
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), exited_(other.exited_), status_(other.status_) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    kill_and_reap();
    pid_ = std::exchange(other.pid_, -1);
    exited_ = other.exited_;
    status_ = other.status_;
  }
  return *this;
}

bool ChildProcess::poll() {
  if (pid_ < 0 || exited_)
    return true;
  int status = 0;
  const pid_t result = ::waitpid(pid_, &status, WNOHANG);
  if (result == pid_ || (result < 0 && errno == ECHILD)) {
    exited_ = true;
    status_ = status;
  }
  return exited_;
}

bool ChildProcess::wait_for(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!poll()) {
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

void ChildProcess::signal(int signal) {
  if (pid_ >= 0 && !poll())
    ::kill(pid_, signal);
}

void ChildProcess::kill_and_reap() noexcept {
  if (pid_ < 0 || poll())
    return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  exited_ = true;
  status_ = status;
}

std::string ChildProcess::describe_exit() const {
  return describe_wait_status(status_);
}

bool ChildProcess::exited_cleanly() const {
  return exited_ && WIFEXITED(status_) && WEXITSTATUS(status_) == 0;
}

}  // namespace xdit::workers
