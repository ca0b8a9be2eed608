#include "parallel/communicator.hpp"

#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <csignal>
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "parallel/backend_factory.hpp"
#include "parallel/comm_error.hpp"
#include "parallel/comm_text.hpp"

namespace xdit::parallel {
namespace {

// Writing to a socket whose peer has gone raises SIGPIPE, which kills the
// process by default (Python ignores it, so c10d does not guard against it);
// a dead peer must surface as an error on its partners, not kill them too.
void ignore_sigpipe() {
  struct sigaction current {};
  if (::sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
    std::signal(SIGPIPE, SIG_IGN);
  }
}

void check(const Rendezvous& r) {
  if (r.world_size < 1 || r.rank < 0 || r.rank >= r.world_size) {
    throw UsageError("rank " + std::to_string(r.rank) + " of a group of " +
                     std::to_string(r.world_size) + " processes is impossible");
  }
  if (r.world_size > 1 && r.store_file.empty() && (r.master_port < 1 || r.master_port > 65535)) {
    throw UsageError("master port " + std::to_string(r.master_port) + " is not a TCP port");
  }
  if (r.timeout.count() <= 0)
    throw UsageError("the communication timeout must be positive");
}

c10::intrusive_ptr<c10d::Store> with_prefix(const Rendezvous& r,
                                            c10::intrusive_ptr<c10d::Store> store) {
  if (r.store_prefix.empty())
    return store;
  return c10::make_intrusive<c10d::PrefixStore>(r.store_prefix, std::move(store));
}

c10::intrusive_ptr<c10d::Store> join_file_store(const Rendezvous& r) {
  try {
    // No worker count: the file belongs to whoever made its directory (the
    // launcher removes both), so no rank deletes it on its way out while
    // another may still be reading it.
    auto store = c10::make_intrusive<c10d::FileStore>(r.store_file, -1);
    store->setTimeout(r.timeout);
    return with_prefix(r, std::move(store));
  } catch (...) {
    throw CommError("rank " + std::to_string(r.rank) + " could not open the rendezvous file " +
                    r.store_file + ": " + message_of(std::current_exception()));
  }
}

c10::intrusive_ptr<c10d::Store> join_store(const Rendezvous& r) {
  if (!r.store_file.empty())
    return join_file_store(r);
  c10d::TCPStoreOptions options;
  options.port = static_cast<std::uint16_t>(r.master_port);
  options.isServer = r.rank0_serves_store && r.rank == 0;
  options.numWorkers = r.world_size;
  // The groups' own rendezvous waits for the peers; the store need not.
  options.waitWorkers = false;
  options.timeout = r.timeout;
  try {
    return with_prefix(r, c10::make_intrusive<c10d::TCPStore>(r.master_addr, options));
  } catch (...) {
    const std::string where = r.master_addr + ":" + std::to_string(r.master_port);
    throw CommError("rank " + std::to_string(r.rank) + " could not " +
                    (options.isServer ? "serve" : "reach") + " the rendezvous store at " + where +
                    " within " + seconds_text(r.timeout) +
                    (options.isServer ? " (is the port free?)"
                                      : " (is rank 0 or the launcher running, and the address "
                                        "reachable?)") +
                    ": " + message_of(std::current_exception()));
  }
}

}  // namespace

Communicator::Communicator(const Rendezvous& rendezvous) : Communicator(rendezvous, std::nullopt) {}

Communicator::Communicator(const Rendezvous& rendezvous, const Mesh& mesh)
    : Communicator(rendezvous, std::optional<Mesh>(mesh)) {}

Communicator::Communicator(const Rendezvous& rendezvous, std::optional<Mesh> mesh)
    : rank_(rendezvous.rank),
      world_size_(rendezvous.world_size),
      timeout_(rendezvous.timeout),
      mesh_(std::move(mesh)) {
  check(rendezvous);
  // NCCL binds each communicator to the current device, and the caching
  // allocator's first CUDA allocations land there too.
  if (rendezvous.device.is_cuda())
    c10::impl::getDeviceGuardImpl(c10::kCUDA)->setDevice(rendezvous.device);
  if (mesh_ && (mesh_->world_size() != world_size_ || mesh_->rank() != rank_)) {
    throw UsageError("the mesh is for rank " + std::to_string(mesh_->rank()) + " of " +
                     std::to_string(mesh_->world_size()) + ", the rendezvous for rank " +
                     std::to_string(rank_) + " of " + std::to_string(world_size_));
  }
  if (world_size_ > 1) {
    ignore_sigpipe();
    store_ = join_store(rendezvous);
    const auto reach = rendezvous.store_file.empty() ? BackendFactory::Reach::kNetwork
                                                     : BackendFactory::Reach::kThisMachine;
    const c10::DeviceType wire = rendezvous.host_staged ? c10::kCPU : rendezvous.device.type();
    backends_ = std::make_unique<BackendFactory>(wire, rendezvous.master_addr, reach, timeout_);
    host_staged_ = rendezvous.host_staged;
    device_ = rendezvous.device;
  }
  std::vector<int> everyone(world_size_);
  for (int r = 0; r < world_size_; ++r)
    everyone[r] = r;
  add_group("world", everyone);
  if (mesh_) {
    for (size_t i = 0; i < kAllDims.size(); ++i) {
      const Dim dim = kAllDims[i];
      by_dim_[i] = &add_group(std::string(dim_name(dim)), mesh_->group(dim));
    }
  }
}

Communicator::~Communicator() = default;

Group& Communicator::group(Dim dim) {
  for (size_t i = 0; i < kAllDims.size(); ++i) {
    if (kAllDims[i] == dim && by_dim_[i])
      return *by_dim_[i];
  }
  throw UsageError("the communicator of rank " + std::to_string(rank_) + " has no mesh, so no '" +
                   std::string(dim_name(dim)) + "' group");
}

Group& Communicator::add_group(const std::string& name, const std::vector<int>& ranks) {
  for (const auto& group : groups_) {
    if (group->ranks() == ranks)
      return *groups_.emplace_back(group->renamed(name));
  }
  GroupLink link;
  if (ranks.size() > 1) {
    const auto position = std::find(ranks.begin(), ranks.end(), rank_) - ranks.begin();
    // Named by members, so that every member finds the same keys whatever
    // groups the others formed before.
    const std::string prefix = "xdit/group/" + rank_list(ranks);
    const auto create = [&](const std::string& key) {
      auto store = c10::make_intrusive<c10d::PrefixStore>(key, store_);
      return backends_->create(store, static_cast<int>(position), static_cast<int>(ranks.size()));
    };
    try {
      link.backend = create(prefix);
      if (backends_->point_to_point_per_direction())
        link.toward_lower = create(prefix + "/toward-lower");
      link.host_staged = host_staged_;
      link.device = host_staged_ ? c10::Device(c10::kCPU) : device_;
    } catch (...) {
      throw CommError("rank " + std::to_string(rank_) + ": group '" + name + "' (ranks " +
                      rank_list(ranks) + ") did not form within " + seconds_text(timeout_) +
                      " (did every member start?): " + message_of(std::current_exception()));
    }
    spdlog::debug("rank {}: group '{}' formed with ranks {}", rank_, name, rank_list(ranks));
  }
  return *groups_.emplace_back(
      std::make_unique<Group>(name, ranks, rank_, std::move(link), timeout_, stats_));
}

}  // namespace xdit::parallel
