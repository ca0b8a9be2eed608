// The torchrun / Slurm contract: xdit-worker processes started with the
// variables those launchers set (Debian's torchrun cannot run here, so the
// test sets them itself), a request on the command line, rank 0 writing the
// output.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "../engine/temp_folder.hpp"
#include "io/png_image.hpp"
#include "io/safetensors_file.hpp"
#include "support/rounding.hpp"
#include "worker_test_support.hpp"
#include "workers/child_process.hpp"
#include "workers/worker_main.hpp"

extern char** environ;

namespace xdit::workers {
namespace {

using namespace xdit::workers::testing;
using xdit::testing::contains;
using xdit::testing::max_difference;
using xdit::testing::read_bytes;
using xdit::testing::scaled_difference;
using xdit::testing::TempFolder;
using Variables = std::map<std::string, std::string>;

// A port free now; the small race until rank 0 binds it is the one every
// torchrun or Slurm user has with MASTER_PORT too.
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(addr);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

// Ends with every rank's exit status; the ChildProcess objects kill what is
// left if the test fails first.
struct Ranks {
  std::vector<ChildProcess> processes;
  std::vector<std::filesystem::path> logs;

  void wait() {
    for (auto& p : processes) {
      EXPECT_TRUE(p.wait_for(std::chrono::seconds(90))) << "a rank hung";
    }
  }
  std::string log(int rank) const { return read_bytes(logs[rank]); }
};

Ranks start_ranks(const TempFolder& temp, int world, const std::vector<std::string>& args,
                  const std::function<Variables(int rank)>& variables) {
  Ranks ranks;
  for (int rank = 0; rank < world; ++rank) {
    SpawnOptions options;
    options.argv = {worker_executable().string()};
    options.argv.insert(options.argv.end(), args.begin(), args.end());
    const Variables vars = variables(rank);
    for (char** e = environ; *e; ++e) {
      const std::string entry = *e;
      const std::string name = entry.substr(0, entry.find('='));
      // The test's own environment must not set a rank of its own.
      if (vars.count(name) || name == "RANK" || name.rfind("SLURM_", 0) == 0)
        continue;
      options.env.push_back(entry);
    }
    for (const auto& [name, value] : vars)
      options.env.push_back(name + "=" + value);
    ranks.logs.push_back(temp / ("rank" + std::to_string(rank) + ".log"));
    options.log = ranks.logs.back();
    ranks.processes.push_back(ChildProcess::spawn(options));
  }
  return ranks;
}

std::vector<std::string> request_args(const std::filesystem::path& output,
                                      const std::string& output_type) {
  const auto request = small_request();
  return {"--model",
          tiny_model().string(),
          "--prompt",
          request.prompts[0],
          "--height",
          std::to_string(request.height),
          "--width",
          std::to_string(request.width),
          "--no_resolution_binning",
          "--num_inference_steps",
          std::to_string(request.num_inference_steps),
          "--seed",
          std::to_string(request.seed),
          "--tensor_parallel_degree",
          "2",
          "--output_type",
          output_type,
          "-o",
          output.string()};
}

void expect_clean_exits(Ranks& ranks) {
  ranks.wait();
  for (size_t r = 0; r < ranks.processes.size(); ++r) {
    EXPECT_TRUE(ranks.processes[r].exited_cleanly())
        << "rank " << r << " " << ranks.processes[r].describe_exit() << ":\n"
        << ranks.log(r);
  }
}

void expect_serial_latents(const std::filesystem::path& file) {
  ASSERT_TRUE(std::filesystem::exists(file));
  const at::Tensor latents = io::SafetensorsFile(file).tensor("latents");
  const auto serial = serial_reference(small_request());
  EXPECT_LE(scaled_difference(latents, serial.result.latents), serial.tolerance);
}

TEST(StandaloneWorkers, TorchrunVariablesWithRankZeroServingTheStore) {
  const TempFolder temp;
  const auto output = temp / "latents.safetensors";
  const int port = free_port();
  Ranks ranks = start_ranks(temp, 2, request_args(output, "latent"), [&](int rank) {
    return Variables{{"RANK", std::to_string(rank)},
                     {"WORLD_SIZE", "2"},
                     {"LOCAL_RANK", std::to_string(rank)},
                     {"LOCAL_WORLD_SIZE", "2"},
                     {"MASTER_ADDR", "127.0.0.1"},
                     {"MASTER_PORT", std::to_string(port)},
                     {"OMP_NUM_THREADS", "1"}};
  });
  expect_clean_exits(ranks);
  expect_serial_latents(output);
  EXPECT_TRUE(contains(ranks.log(0), "wrote " + output.string())) << ranks.log(0);
}

TEST(StandaloneWorkers, TorchElasticAgentStore) {
  // As torchrun's agent: the store is served outside the workers.
  c10d::TCPStoreOptions store_options;
  store_options.port = 0;
  store_options.isServer = true;
  store_options.waitWorkers = false;
  const auto store = c10::make_intrusive<c10d::TCPStore>("127.0.0.1", store_options);
  const TempFolder temp;
  const auto output = temp / "image.png";
  Ranks ranks = start_ranks(temp, 2, request_args(output, "pil"), [&](int rank) {
    return Variables{{"RANK", std::to_string(rank)},
                     {"WORLD_SIZE", "2"},
                     {"LOCAL_RANK", std::to_string(rank)},
                     {"LOCAL_WORLD_SIZE", "2"},
                     {"MASTER_ADDR", "127.0.0.1"},
                     {"MASTER_PORT", std::to_string(store->getPort())},
                     {"TORCHELASTIC_USE_AGENT_STORE", "True"},
                     {"TORCHELASTIC_RESTART_COUNT", "1"},
                     {"OMP_NUM_THREADS", "1"}};
  });
  expect_clean_exits(ranks);
  ASSERT_TRUE(std::filesystem::exists(output));
  const io::PngImage image = io::read_png(output);
  EXPECT_LE(max_difference(image.rgb, serial_result(small_request()).images[0]), 1);
  const auto settings = nlohmann::json::parse(image.text.at("xdit"));
  EXPECT_EQ(settings["world_size"], 2);
  EXPECT_EQ(settings["parallel"]["tensor_degree"], 2);
}

TEST(StandaloneWorkers, SlurmVariables) {
  const TempFolder temp;
  const auto output = temp / "latents.safetensors";
  const int port = free_port();
  Ranks ranks = start_ranks(temp, 2, request_args(output, "latent"), [&](int rank) {
    return Variables{{"SLURM_PROCID", std::to_string(rank)},
                     {"SLURM_NTASKS", "2"},
                     {"SLURM_LOCALID", std::to_string(rank)},
                     {"SLURM_TASKS_PER_NODE", "2"},
                     {"MASTER_ADDR", "127.0.0.1"},
                     {"MASTER_PORT", std::to_string(port)}};
  });
  expect_clean_exits(ranks);
  expect_serial_latents(output);
}

TEST(StandaloneWorkers, EveryRankNamesItselfInItsError) {
  const TempFolder temp;
  auto args = request_args(temp / "never.png", "pil");
  args[1] = (temp / "no-such-model").string();
  const int port = free_port();
  Ranks ranks = start_ranks(temp, 2, args, [&](int rank) {
    return Variables{{"RANK", std::to_string(rank)},
                     {"WORLD_SIZE", "2"},
                     {"MASTER_ADDR", "127.0.0.1"},
                     {"MASTER_PORT", std::to_string(port)}};
  });
  ranks.wait();
  for (int rank = 0; rank < 2; ++rank) {
    EXPECT_EQ(ranks.processes[rank].describe_exit(),
              "exited with status " + std::to_string(kExitFailed));
    const std::string log = ranks.log(rank);
    EXPECT_TRUE(contains(log, "rank " + std::to_string(rank) + " of 2: error:")) << log;
    EXPECT_TRUE(contains(log, "no-such-model")) << log;
  }
}

}  // namespace
}  // namespace xdit::workers
