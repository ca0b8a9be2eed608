#include "workers/rank_environment.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "core/error.hpp"

namespace xdit::workers {
namespace {

RankEnvironment read(const std::map<std::string, std::string>& vars) {
  return read_rank_environment([&vars](const char* name) -> const char* {
    const auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
}

std::string refusal(const std::map<std::string, std::string>& vars) {
  try {
    read(vars);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(RankEnvironment, NothingSetIsAGroupOfOne) {
  const auto env = read({});
  EXPECT_EQ(env.rank, 0);
  EXPECT_EQ(env.world_size, 1);
  EXPECT_EQ(env.launcher, "none");
  EXPECT_FALSE(env.control_fd);
}

TEST(RankEnvironment, TorchrunVariables) {
  const auto env = read({{"RANK", "3"},
                         {"WORLD_SIZE", "4"},
                         {"LOCAL_RANK", "1"},
                         {"LOCAL_WORLD_SIZE", "2"},
                         {"MASTER_ADDR", "node7"},
                         {"MASTER_PORT", "29511"},
                         {"OMP_NUM_THREADS", "1"}});
  EXPECT_EQ(env.launcher, "torchrun");
  EXPECT_EQ(env.rank, 3);
  EXPECT_EQ(env.world_size, 4);
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.local_world_size, 2);
  EXPECT_EQ(env.compute_threads, 1);
  const auto r = env.rendezvous(std::chrono::seconds(9));
  EXPECT_EQ(r.master_addr, "node7");
  EXPECT_EQ(r.master_port, 29511);
  EXPECT_EQ(r.rank, 3);
  EXPECT_EQ(r.world_size, 4);
  EXPECT_EQ(r.timeout, std::chrono::seconds(9));
  EXPECT_TRUE(r.rank0_serves_store);
}

TEST(RankEnvironment, TorchElasticAgentStoreIsOnlyConnectedTo) {
  auto vars = std::map<std::string, std::string>{{"RANK", "0"},
                                                 {"WORLD_SIZE", "2"},
                                                 {"MASTER_ADDR", "127.0.0.1"},
                                                 {"MASTER_PORT", "29500"},
                                                 {"TORCHELASTIC_USE_AGENT_STORE", "True"}};
  EXPECT_FALSE(read(vars).rendezvous(std::chrono::seconds(1)).rank0_serves_store);
  EXPECT_EQ(read(vars).store_prefix, "");
  vars["TORCHELASTIC_RESTART_COUNT"] = "2";
  EXPECT_EQ(read(vars).rendezvous(std::chrono::seconds(1)).store_prefix, "/worker/attempt_2");
  vars["TORCHELASTIC_USE_AGENT_STORE"] = "False";
  EXPECT_TRUE(read(vars).rendezvous(std::chrono::seconds(1)).rank0_serves_store);
}

TEST(RankEnvironment, SlurmVariables) {
  const auto env = read({{"SLURM_PROCID", "5"},
                         {"SLURM_NTASKS", "8"},
                         {"SLURM_LOCALID", "1"},
                         {"SLURM_TASKS_PER_NODE", "4(x2)"},
                         {"MASTER_ADDR", "gpu01"},
                         {"MASTER_PORT", "29600"}});
  EXPECT_EQ(env.launcher, "slurm");
  EXPECT_EQ(env.rank, 5);
  EXPECT_EQ(env.world_size, 8);
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.local_world_size, 4);
  EXPECT_TRUE(env.rendezvous(std::chrono::seconds(1)).rank0_serves_store);
  // torchrun inside a Slurm job: RANK wins.
  const auto nested =
      read({{"SLURM_PROCID", "5"}, {"SLURM_NTASKS", "8"}, {"RANK", "0"}, {"WORLD_SIZE", "1"}});
  EXPECT_EQ(nested.launcher, "torchrun");
  EXPECT_EQ(nested.world_size, 1);
}

TEST(RankEnvironment, TheLauncherAddsItsControlVariables) {
  const auto env = read({{"RANK", "1"},
                         {"WORLD_SIZE", "2"},
                         {"XDIT_STORE_FILE", "/tmp/xdit-group-abc/store"},
                         {"XDIT_CONTROL_FD", "3"},
                         {"XDIT_CPU_CORE", "1"},
                         {"XDIT_COMPUTE_THREADS", "2"},
                         {"OMP_NUM_THREADS", "1"}});
  EXPECT_EQ(env.launcher, "xdit");
  EXPECT_EQ(env.control_fd, 3);
  EXPECT_EQ(env.cpu_core, 1);
  EXPECT_EQ(env.compute_threads, 2);
  // A local group meets through the launcher's file, with no address or port.
  const auto r = env.rendezvous(std::chrono::seconds(1));
  EXPECT_EQ(r.store_file, "/tmp/xdit-group-abc/store");
}

TEST(RankEnvironment, WithoutAStoreFileTheGroupMeetsOverTcp) {
  const auto env = read(
      {{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "node7"}, {"MASTER_PORT", "29511"}});
  EXPECT_EQ(env.rendezvous(std::chrono::seconds(1)).store_file, "");
}

TEST(RankEnvironment, MissingOrBrokenVariablesAreNamed) {
  EXPECT_NE(refusal({{"RANK", "0"}}).find("WORLD_SIZE is not set"), std::string::npos);
  EXPECT_NE(refusal({{"RANK", "0"}, {"WORLD_SIZE", "2"}}).find("MASTER_ADDR is not set"),
            std::string::npos);
  EXPECT_NE(refusal({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}})
                .find("MASTER_PORT is not set"),
            std::string::npos);
  EXPECT_NE(refusal({{"RANK", "zero"}, {"WORLD_SIZE", "2"}}).find("RANK='zero'"),
            std::string::npos);
  EXPECT_NE(refusal({{"RANK", "2"}, {"WORLD_SIZE", "2"}}).find("rank 2 does not exist"),
            std::string::npos);
  EXPECT_NE(refusal({{"SLURM_PROCID", "0"}}).find("SLURM_NTASKS"), std::string::npos);
  // A group of one needs no address.
  EXPECT_EQ(read({{"RANK", "0"}, {"WORLD_SIZE", "1"}}).world_size, 1);
}

}  // namespace
}  // namespace xdit::workers
