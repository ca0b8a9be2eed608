#include "workers/child_process.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <cerrno>

#include "workers/failure_report.hpp"
#include "workers/worker_error.hpp"

extern char** environ;

namespace xdit::workers {
namespace {

ChildProcess shell(const std::string& script) {
  SpawnOptions options;
  options.argv = {"/bin/sh", "-c", script};
  for (char** e = environ; *e; ++e)
    options.env.emplace_back(*e);
  return ChildProcess::spawn(options);
}

bool gone(pid_t pid) {
  return ::kill(pid, 0) != 0 && errno == ESRCH;
}

TEST(ChildProcess, SaysHowItEnded) {
  ChildProcess exits = shell("exit 3");
  ASSERT_TRUE(exits.wait_for(std::chrono::seconds(10)));
  EXPECT_EQ(exits.describe_exit(), "exited with status 3");
  EXPECT_FALSE(exits.exited_cleanly());

  ChildProcess killed = shell("sleep 30");
  EXPECT_FALSE(killed.poll());
  killed.signal(SIGKILL);
  ASSERT_TRUE(killed.wait_for(std::chrono::seconds(10)));
  EXPECT_EQ(killed.describe_exit(), "was killed by signal 9 (Killed)");
}

TEST(ChildProcess, DestructionKillsAndReaps) {
  pid_t pid = -1;
  {
    ChildProcess sleeper = shell("sleep 30");
    pid = sleeper.pid();
    EXPECT_FALSE(gone(pid));
  }
  EXPECT_TRUE(gone(pid));
}

TEST(ChildProcess, AMissingExecutableIsNamed) {
  SpawnOptions options;
  options.argv = {"/no/such/xdit-worker"};
  try {
    ChildProcess::spawn(options);
    FAIL() << "started a missing executable";
  } catch (const WorkerError& e) {
    EXPECT_NE(std::string(e.what()).find("/no/such/xdit-worker"), std::string::npos);
  }
}

TEST(FailureReport, BlamesTheRootCauseNotThePeersThatLostIt) {
  RankFate killed{1, 101, std::nullopt, true, "was killed by signal 9 (Killed)", std::nullopt};
  RankFate lost_peer{0,
                     100,
                     ErrorMessage{0, "comm", "rank 0: all_reduce failed: peer gone"},
                     true,
                     "exited with status 1",
                     std::nullopt};
  RankFate stopped{2,           102, std::nullopt, false, "was killed by signal 15 (Terminated)",
                   std::nullopt};
  WorkerError error = describe_failure({lost_peer, killed, stopped});
  EXPECT_EQ(error.rank(), 1);
  EXPECT_EQ(std::string(error.what()),
            "rank 1 (pid 101) was killed by signal 9 (Killed); the other 2 workers were stopped");

  RankFate broken{1,
                  101,
                  ErrorMessage{1, "file", "rank 1: weights.safetensors is truncated"},
                  true,
                  "exited with status 1",
                  std::nullopt};
  error = describe_failure({lost_peer, broken});
  EXPECT_EQ(error.rank(), 1);
  EXPECT_EQ(std::string(error.what()),
            "rank 1 (pid 101) failed: weights.safetensors is truncated; the other worker was "
            "stopped");
}

}  // namespace
}  // namespace xdit::workers
