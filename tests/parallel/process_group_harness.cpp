#include "process_group_harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "core/error.hpp"
#include "core/threads.hpp"
#include "parallel/comm_text.hpp"

extern char** environ;

namespace xdit::parallel::testing {
namespace {

namespace fs = std::filesystem;

constexpr const char* kRankVar = "XDIT_PG_RANK";
constexpr const char* kPortVar = "XDIT_PG_PORT";
constexpr const char* kCallVar = "XDIT_PG_CALL";
constexpr const char* kResultVar = "XDIT_PG_RESULT";
constexpr const char* kSupervisorVar = "XDIT_PG_SUPERVISOR";

// What a rank process learns from its supervisor; the rest (world size,
// mesh, timeouts) it computes itself by running the same TEST code.
struct RankRole {
  int rank;
  int port;
  int call;
  fs::path result;
  pid_t supervisor;
};

std::optional<RankRole> role_from_environment() {
  const char* rank = std::getenv(kRankVar);
  if (!rank)
    return std::nullopt;
  return RankRole{std::atoi(rank), std::atoi(std::getenv(kPortVar)),
                  std::atoi(std::getenv(kCallVar)), std::getenv(kResultVar),
                  static_cast<pid_t>(std::atoll(std::getenv(kSupervisorVar)))};
}

// Which call of run_process_group this is within the current test, so that a
// rank process runs only the body its supervisor started it for.
// The start time tells repetitions of one test (--gtest_repeat) apart.
int next_call_index() {
  static std::pair<const ::testing::TestInfo*, ::testing::TimeInMillis> test{};
  static int calls = 0;
  const auto* current = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::pair key{current, current->result()->start_timestamp()};
  if (key != test) {
    test = key;
    calls = 0;
  }
  return calls++;
}

std::string current_test_name() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::string(info->test_suite_name()) + "." + info->name();
}

// ---- in a rank process ----

[[noreturn]] void run_as_rank(const RankRole& role, int world_size,
                              const std::optional<ParallelConfig>& config, const RankBody& body,
                              const GroupRunOptions& options) {
  // Die with the supervisor (if CTest kills it, no rank must linger), and
  // close the race where it died before the line above took effect.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != role.supervisor)
    std::_Exit(3);
  // Ranks share the machine's cores; one compute thread each, as workers do.
  set_compute_threads(1);

  // Failures are collected here rather than in the test's result, so that
  // they reach the supervisor even when the call sits inside an outer
  // interceptor such as EXPECT_NONFATAL_FAILURE.
  // Both reporters: the per-thread one outranks an outer per-thread
  // interceptor, the global one catches threads the body starts.
  ::testing::TestPartResultArray failures;
  ::testing::ScopedFakeTestPartResultReporter all_threads(
      ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ALL_THREADS, &failures);
  ::testing::ScopedFakeTestPartResultReporter this_thread(
      ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &failures);
  Rendezvous rendezvous;
  rendezvous.master_port = role.port;
  rendezvous.world_size = world_size;
  rendezvous.rank = role.rank;
  rendezvous.timeout = options.op_timeout;
  rendezvous.rank0_serves_store = options.rank0_serves_store;
  rendezvous.host_staged = options.host_staged;
  rendezvous.device = rank_device(options, role.rank);
  try {
    std::unique_ptr<Communicator> comm =
        config ? std::make_unique<Communicator>(rendezvous, Mesh(*config, world_size, role.rank))
               : std::make_unique<Communicator>(rendezvous);
    body(*comm, role.rank);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "uncaught exception: " << e.what();
  } catch (...) {
    ADD_FAILURE() << "uncaught exception of unknown type";
  }

  // The file exists only if the body ran to its end; it holds its failures,
  // which also go to the rank's log.
  std::ofstream out(role.result);
  bool failed = false;
  for (int i = 0; i < failures.size(); ++i) {
    const ::testing::TestPartResult& part = failures.GetTestPartResult(i);
    if (!part.failed())
      continue;
    failed = true;
    std::ostringstream line;
    line << (part.file_name() ? part.file_name() : "?") << ":" << part.line_number() << ": "
         << part.message() << "\n";
    out << line.str();
    std::fputs(line.str().c_str(), stderr);
  }
  out.close();
  std::fflush(nullptr);
  // Skips static destructors: LibTorch's are not meant to run mid-test.
  std::_Exit(failed ? 1 : 0);
}

// ---- in the supervisor ----

struct RankProcess {
  pid_t pid = -1;
  fs::path log;
  fs::path result;
  int status = 0;
  bool done = false;
  bool killed = false;
};

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The end of a rank's output, where a crash or hang shows.
std::string tail_of(const fs::path& log) {
  constexpr size_t kTail = 3000;
  std::string text = read_file(log);
  if (text.size() <= kTail)
    return text;
  text = text.substr(text.size() - kTail);
  return "..." + text.substr(std::min(text.size(), text.find('\n') + 1));
}

std::vector<std::string> rank_environment(int rank, int port, int call, const fs::path& result) {
  std::vector<std::string> env;
  for (char** entry = environ; *entry; ++entry) {
    const std::string_view text(*entry);
    // Sharding variables of the supervisor's run would filter out the test.
    if (text.rfind("XDIT_PG_", 0) == 0 || text.rfind("GTEST_SHARD", 0) == 0 ||
        text.rfind("GTEST_TOTAL_SHARDS", 0) == 0 || text.rfind("OMP_NUM_THREADS=", 0) == 0) {
      continue;
    }
    env.emplace_back(text);
  }
  env.push_back(std::string(kRankVar) + "=" + std::to_string(rank));
  env.push_back(std::string(kPortVar) + "=" + std::to_string(port));
  env.push_back(std::string(kCallVar) + "=" + std::to_string(call));
  env.push_back(std::string(kResultVar) + "=" + result.string());
  env.push_back(std::string(kSupervisorVar) + "=" + std::to_string(::getpid()));
  env.emplace_back("OMP_NUM_THREADS=1");
  return env;
}

pid_t spawn(const std::vector<std::string>& args, const std::vector<std::string>& env,
            const fs::path& log) {
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  ::posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ::posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> argv;
  for (const auto& a : args)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : env)
    envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  pid_t pid = -1;
  const int error = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  ::posix_spawn_file_actions_destroy(&actions);
  if (error != 0)
    return -1;
  return pid;
}

void wait_for(std::vector<RankProcess>& ranks, std::chrono::milliseconds run_timeout) {
  const auto deadline = std::chrono::steady_clock::now() + run_timeout;
  for (;;) {
    bool running = false;
    for (RankProcess& r : ranks) {
      if (r.done)
        continue;
      if (::waitpid(r.pid, &r.status, WNOHANG) == r.pid) {
        r.done = true;
      } else {
        running = true;
      }
    }
    if (!running)
      return;
    if (std::chrono::steady_clock::now() > deadline)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (RankProcess& r : ranks) {
    if (r.done)
      continue;
    ::kill(r.pid, SIGKILL);
    ::waitpid(r.pid, &r.status, 0);
    r.done = r.killed = true;
  }
}

// Empty when the rank passed; otherwise why it did not.
std::string verdict(const RankProcess& r, const GroupRunOptions& options) {
  const bool finished = fs::exists(r.result);
  if (r.killed) {
    return "hung: killed after the " + seconds_text(options.run_timeout) +
           " run timeout; last output:\n" + tail_of(r.log);
  }
  if (WIFSIGNALED(r.status)) {
    return std::string("crashed with signal ") + std::to_string(WTERMSIG(r.status)) + " (" +
           ::strsignal(WTERMSIG(r.status)) + "); last output:\n" + tail_of(r.log);
  }
  const int code = WEXITSTATUS(r.status);
  if (finished && code == 0)
    return {};
  if (finished && code == 1)
    return "failed:\n" + read_file(r.result);
  return "exited with status " + std::to_string(code) +
         " without finishing the body; last output:\n" + tail_of(r.log);
}

void supervise(int world_size, int call, const GroupRunOptions& options) {
  // The supervisor serves the store on a port the kernel picks, so parallel
  // CTest jobs cannot collide; only the rank-0-serves mode needs a port
  // chosen in advance (a small race, as for any launcher).
  c10::intrusive_ptr<c10d::TCPStore> store;
  int port = 0;
  if (options.rank0_serves_store) {
    port = free_local_port();
  } else {
    c10d::TCPStoreOptions store_options;
    store_options.port = 0;
    store_options.isServer = true;
    store_options.waitWorkers = false;
    store_options.timeout = options.run_timeout;
    store = c10::make_intrusive<c10d::TCPStore>("127.0.0.1", store_options);
    port = store->getPort();
  }
  ASSERT_GT(port, 0) << "no free TCP port";

  static int group_serial = 0;
  const fs::path dir = fs::path(::testing::TempDir()) / ("xdit_pg_" + std::to_string(::getpid()) +
                                                         "_" + std::to_string(group_serial++));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  const std::vector<std::string> args = {self, "--gtest_filter=" + current_test_name()};

  std::vector<RankProcess> ranks(world_size);
  for (int r = 0; r < world_size; ++r) {
    ranks[r].log = dir / ("rank" + std::to_string(r) + ".log");
    ranks[r].result = dir / ("rank" + std::to_string(r) + ".result");
    ranks[r].pid = spawn(args, rank_environment(r, port, call, ranks[r].result), ranks[r].log);
    if (ranks[r].pid < 0) {
      ADD_FAILURE() << "could not start rank " << r << " (" << self << ")";
      ranks[r].done = true;
    }
  }
  wait_for(ranks, options.run_timeout);
  for (int r = 0; r < world_size; ++r) {
    if (ranks[r].pid < 0)
      continue;
    if (const std::string why = verdict(ranks[r], options); !why.empty()) {
      ADD_FAILURE() << "rank " << r << " of " << world_size << " " << why;
    }
  }
  std::error_code ignored;
  fs::remove_all(dir, ignored);
}

void run(int world_size, const std::optional<ParallelConfig>& config, const RankBody& body,
         const GroupRunOptions& options) {
  const int call = next_call_index();
  if (const std::optional<RankRole> role = role_from_environment()) {
    if (role->call == call)
      run_as_rank(*role, world_size, config, body, options);
    return;  // another call of the same test: a different group
  }
  supervise(world_size, call, options);
}

}  // namespace

c10::Device rank_device(const GroupRunOptions& options, int rank) {
  if (!options.device.is_cuda() || options.host_staged)
    return options.device;
  return {c10::kCUDA, static_cast<c10::DeviceIndex>(rank)};
}

int free_local_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(addr);
  int port = 0;
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) == 0) {
    port = ntohs(addr.sin_port);
  }
  if (fd >= 0)
    ::close(fd);
  return port;
}

void run_process_group(int world_size, const RankBody& body, const GroupRunOptions& options) {
  if (world_size < 1)
    throw UsageError("a process group needs at least one rank");
  run(world_size, std::nullopt, body, options);
}

void run_process_group(const ParallelConfig& config, const RankBody& body,
                       const GroupRunOptions& options) {
  check_degrees(config, static_cast<int>(config.product()));
  run(static_cast<int>(config.product()), config, body, options);
}

}  // namespace xdit::parallel::testing
