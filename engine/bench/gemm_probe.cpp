#include "bench/gemm_probe.hpp"

#include <ATen/ATen.h>

#include "bench/flops.hpp"
#include "core/gpu_info.hpp"

namespace xdit::bench {
namespace {

constexpr int64_t kCpuSize = 2048;
constexpr int64_t kGpuSize = 8192;

at::Tensor operand(at::Device device) {
  const bool cpu = device.is_cpu();
  const int64_t size = cpu ? kCpuSize : kGpuSize;
  return at::randn({size, size}, at::TensorOptions(device).dtype(cpu ? at::kFloat : at::kBFloat16));
}

}  // namespace

Sample time_on(at::Device device, const std::function<void()>& run) {
  synchronize(device);
  return time_once([&] {
    run();
    synchronize(device);
  });
}

GemmProbe::GemmProbe(at::Device device)
    : device_(device), a_(operand(device)), b_(operand(device)), c_(at::empty_like(a_)) {}

void GemmProbe::run() {
  timing_.add(time_on(device_, [&] { at::mm_out(c_, a_, b_); }));
}

double GemmProbe::flops() const {
  return matmul_flops(size(), size(), size());
}

}  // namespace xdit::bench
