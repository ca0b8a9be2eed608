// `xdit generate --nproc 2` as a user runs it: Ctrl-C stops the whole group,
// and a launcher killed outright takes its workers with it.

#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <string_view>
#include <thread>
#include <vector>

#include "../engine/temp_folder.hpp"
#include "worker_test_support.hpp"
#include "workers/child_process.hpp"

extern char** environ;

namespace xdit::workers {
namespace {

using namespace xdit::workers::testing;
using xdit::testing::contains;
using xdit::testing::read_bytes;
using xdit::testing::TempFolder;

// The children of `parent`, from /proc.
std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> children;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos)
      continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    std::getline(stat, line);
    // pid (comm) state ppid ...: comm may hold spaces, so parse after ')'.
    const auto close = line.rfind(')');
    if (close == std::string::npos)
      continue;
    std::istringstream rest(line.substr(close + 2));
    char state = 0;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent)
      children.push_back(std::stoi(name));
  }
  return children;
}

// A long `xdit generate --nproc 2`, and its two workers once they run.
struct RunningCli {
  ChildProcess cli;
  std::vector<pid_t> workers;
};

RunningCli start_cli(const TempFolder& temp) {
  SpawnOptions options;
  options.argv = {XDIT_CLI_EXECUTABLE,
                  "generate",
                  "--nproc",
                  "2",
                  "--tensor_parallel_degree",
                  "2",
                  "--model",
                  tiny_model().string(),
                  "--prompt",
                  "a long walk",
                  "--height",
                  "64",
                  "--width",
                  "96",
                  "--no_resolution_binning",
                  "--num_inference_steps",
                  "100000",
                  "-o",
                  (temp / "never.png").string()};
  for (char** e = environ; *e; ++e) {
    if (std::string_view(*e).rfind("TMPDIR=", 0) != 0)
      options.env.emplace_back(*e);
  }
  // The launcher's rendezvous directory goes here, where a test can look.
  std::filesystem::create_directories(temp / "tmp");
  options.env.push_back("TMPDIR=" + (temp / "tmp").string());
  options.log = temp / "cli.log";
  RunningCli run{ChildProcess::spawn(options), {}};
  // Until the workers are denoising: then both exist and the group is busy.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!contains(read_bytes(temp / "cli.log"), "denoising step") &&
         std::chrono::steady_clock::now() < deadline && !run.cli.poll()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  run.workers = children_of(run.cli.pid());
  return run;
}

bool running(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line))
    return false;
  const auto close = line.rfind(')');
  return close != std::string::npos && line.at(close + 2) != 'Z';
}

// What the group left in its TMPDIR: nothing, however it ended.
std::vector<std::string> leftovers(const TempFolder& temp) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(temp / "tmp"))
    names.push_back(entry.path().filename().string());
  return names;
}

void expect_gone_within(const std::vector<pid_t>& pids, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (pid_t pid : pids) {
    while (running(pid) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_FALSE(running(pid)) << "worker " << pid << " outlived its launcher";
  }
}

TEST(CliInterrupt, CtrlCStopsTheWholeGroup) {
  const TempFolder temp;
  RunningCli run = start_cli(temp);
  ASSERT_EQ(run.workers.size(), 2u) << read_bytes(temp / "cli.log");
  run.cli.signal(SIGINT);
  ASSERT_TRUE(run.cli.wait_for(std::chrono::seconds(30))) << read_bytes(temp / "cli.log");
  EXPECT_EQ(run.cli.describe_exit(), "exited with status 130");
  EXPECT_TRUE(contains(read_bytes(temp / "cli.log"), "interrupted (Interrupt)"))
      << read_bytes(temp / "cli.log");
  expect_gone_within(run.workers, std::chrono::seconds(1));
  EXPECT_EQ(leftovers(temp), std::vector<std::string>{});
}

TEST(CliInterrupt, WorkersEndWithAKilledLauncher) {
  const TempFolder temp;
  RunningCli run = start_cli(temp);
  ASSERT_EQ(run.workers.size(), 2u) << read_bytes(temp / "cli.log");
  run.cli.signal(SIGKILL);
  ASSERT_TRUE(run.cli.wait_for(std::chrono::seconds(10)));
  // Nobody stops them: each sees its control channel close.
  expect_gone_within(run.workers, std::chrono::seconds(30));
  // They also remove the rendezvous file the launcher could not.
  EXPECT_EQ(leftovers(temp), std::vector<std::string>{});
}

}  // namespace
}  // namespace xdit::workers
