#include "parallel/backend_factory.hpp"

#include <cstdlib>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>

#include "core/error.hpp"

namespace xdit::parallel {
namespace {

bool is_loopback(const std::string& addr) {
  return addr == "localhost" || addr == "::1" || addr.rfind("127.", 0) == 0;
}

std::shared_ptr<gloo::transport::Device> make_gloo_device(const std::string& master_addr,
                                                          BackendFactory::Reach reach) {
  // Bound to 127.0.0.1, Gloo's listener and connections stay on loopback.
  if (reach == BackendFactory::Reach::kThisMachine)
    return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  if (const char* interface = std::getenv("GLOO_SOCKET_IFNAME"); interface && *interface) {
    return c10d::ProcessGroupGloo::createDeviceForInterface(interface);
  }
  // Resolving the host name can yield an address that peers on this machine
  // cannot reach (or none in a container); loopback always works locally.
  if (is_loopback(master_addr))
    return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

}  // namespace

BackendFactory::BackendFactory(c10::DeviceType device, const std::string& master_addr, Reach reach,
                               std::chrono::milliseconds timeout)
    : device_(device), timeout_(timeout) {
  if (device_ == c10::DeviceType::CPU) {
    gloo_device_ = make_gloo_device(master_addr, reach);
    return;
  }
#ifdef XDIT_WITH_CUDA
  if (device_ == c10::DeviceType::CUDA)
    return;
#endif
  throw UsageError("no communication backend for " + c10::DeviceTypeName(device_) +
                   " tensors in this build (Gloo serves CPU; NCCL needs a CUDA build with "
                   "XDIT_WITH_CUDA)");
}

BackendFactory::~BackendFactory() = default;

c10::intrusive_ptr<XDIT_C10D_BACKEND> BackendFactory::create(
    const c10::intrusive_ptr<c10d::Store>& store, int rank, int size) const {
#ifdef XDIT_WITH_CUDA
  if (device_ == c10::DeviceType::CUDA)
    return create_nccl_backend(store, rank, size, timeout_);
#endif
  auto options = c10d::ProcessGroupGloo::Options::create(timeout_);
  options->devices.push_back(gloo_device_);
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, size, options);
}

}  // namespace xdit::parallel
