#pragma once
// A rank's membership in the process group, as one RAII object: it joins the
// rendezvous store (TCP, or a file for a group on one machine), forms the
// world group and one group per mesh dimension (c10d: Gloo on CPU, NCCL on
// CUDA), and tears them down when destroyed. The parallel methods reach
// other ranks only through its groups, so that every byte is counted in one
// CommStats and every wait is bounded by a timeout.

#include <c10/core/Device.h>
#include <c10/util/intrusive_ptr.h>

#include <array>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "parallel/comm_stats.hpp"
#include "parallel/group.hpp"
#include "parallel/mesh.hpp"

namespace c10d {
class Store;
}  // namespace c10d

namespace xdit::parallel {

class BackendFactory;

struct Rendezvous {
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  int world_size = 1;
  int rank = 0;
  // Bounds the rendezvous and every operation: the longest a dead or stuck
  // peer can hold the others. It must exceed the longest time one rank may
  // legitimately wait for another (a slower weight load, a pipeline stage).
  std::chrono::milliseconds timeout = std::chrono::minutes(5);
  // Rank 0 serves the TCPStore at master_port, unless another process does
  // (a launcher, torchrun's agent, the test harness).
  bool rank0_serves_store = true;
  // Where in the store this group's keys live; empty: at the root. torchrun's
  // agent store needs "/worker/attempt_<restart count>", so that a restarted
  // group never meets the keys of the attempt before.
  std::string store_prefix;
  // A group on this machine that meets through this file (a c10d::FileStore,
  // the launcher's, in a directory only its user can enter) rather than a TCP
  // store: the rendezvous opens no socket, and Gloo listens on 127.0.0.1
  // only, whatever GLOO_SOCKET_IFNAME says. LibTorch's TCPStore server binds
  // every interface and cannot be told otherwise, so a local group must not
  // use one. Empty: the TCP store at master_addr:master_port (torchrun, Slurm).
  std::string store_file;
  // Where this rank's tensors live. CPU: Gloo. CUDA: NCCL (builds with
  // XDIT_WITH_CUDA), and the device becomes the process's current one.
  c10::Device device = c10::kCPU;
  // Gloo even for GPU tensors, which then cross through host copies: ranks
  // sharing one GPU (NCCL refuses them), or a build without NCCL. On CPU
  // tensors it only adds copies (tests use it to check the staging).
  bool host_staged = false;
};

class Communicator {
 public:
  // The world group only. Throws CommError when the rendezvous or a group
  // cannot be formed within the timeout, UsageError for impossible settings.
  // A world of one needs no store and no port.
  explicit Communicator(const Rendezvous& rendezvous);
  // The world group and this rank's group of every mesh dimension. All ranks
  // form their groups in the same order (kAllDims), which is what c10d's
  // pairwise connection needs to not deadlock; groups with the same members
  // share one backend.
  Communicator(const Rendezvous& rendezvous, const Mesh& mesh);
  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  Group& world() { return *groups_.front(); }
  // UsageError when the communicator was made without a mesh.
  Group& group(Dim dim);
  const std::optional<Mesh>& mesh() const { return mesh_; }

  CommStats& stats() { return stats_; }
  const CommStats& stats() const { return stats_; }

 private:
  Communicator(const Rendezvous& rendezvous, std::optional<Mesh> mesh);
  Group& add_group(const std::string& name, const std::vector<int>& ranks);

  int rank_;
  int world_size_;
  std::chrono::milliseconds timeout_;
  c10::intrusive_ptr<c10d::Store> store_;
  std::unique_ptr<BackendFactory> backends_;
  bool host_staged_ = false;
  c10::Device device_ = c10::kCPU;  // the rank's tensors' (Rendezvous::device)
  CommStats stats_;
  std::optional<Mesh> mesh_;
  std::vector<std::unique_ptr<Group>> groups_;  // the world first
  std::array<Group*, kAllDims.size()> by_dim_{};
};

}  // namespace xdit::parallel
