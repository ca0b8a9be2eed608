#pragma once
// Creates the c10d backend of one process group: Gloo for CPU tensors, NCCL
// for CUDA tensors when the engine is built against a CUDA LibTorch. Internal
// to the communicator; the only place that knows which backend classes exist.

#include <c10/core/DeviceType.h>
#include <c10/util/intrusive_ptr.h>

#include <chrono>
#include <memory>
#include <string>

#include "core/torch_compat.hpp"

namespace c10d {
class Store;
class ProcessGroup;
class Backend;
}  // namespace c10d

namespace gloo::transport {
class Device;
}  // namespace gloo::transport

namespace xdit::parallel {

class BackendFactory {
 public:
  // Who the group's members are: processes on this machine only (a group the
  // launcher started), or possibly on other hosts (torchrun, Slurm).
  enum class Reach { kThisMachine, kNetwork };

  // Chooses Gloo's listening address. kThisMachine: 127.0.0.1, always (no
  // socket of a local group may be reachable from the network). kNetwork: the
  // interface named by GLOO_SOCKET_IFNAME (as in PyTorch), else loopback when
  // `master_addr` is a loopback address, else the address this host's name
  // resolves to.
  BackendFactory(c10::DeviceType device, const std::string& master_addr, Reach reach,
                 std::chrono::milliseconds timeout);
  ~BackendFactory();

  // Blocks until all `size` members have called it with a store of the same
  // prefix; throws what c10d throws.
  c10::intrusive_ptr<XDIT_C10D_BACKEND> create(const c10::intrusive_ptr<c10d::Store>& store,
                                               int rank, int size) const;

  // Whether a group needs a second backend for point-to-point messages
  // toward its lower members (NCCL: see GroupLink::toward_lower).
  bool point_to_point_per_direction() const { return device_ == c10::DeviceType::CUDA; }

 private:
  c10::DeviceType device_;
  std::chrono::milliseconds timeout_;
  // One transport device serves every Gloo group of the process.
  std::shared_ptr<gloo::transport::Device> gloo_device_;
};

#ifdef XDIT_WITH_CUDA
// In nccl_backend.cpp, the only file that includes NCCL headers.
c10::intrusive_ptr<XDIT_C10D_BACKEND> create_nccl_backend(
    const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
    std::chrono::milliseconds timeout);
#endif

}  // namespace xdit::parallel
