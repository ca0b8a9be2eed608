#include "parallel/runner.hpp"

#include "core/error.hpp"
#include "core/gpu_info.hpp"
#include "parallel/distrifusion_runner.hpp"
#include "parallel/pipefusion_runner.hpp"
#include "parallel/synchronous_runner.hpp"

namespace xdit::parallel {

StepClock::StepClock(at::Device device)
    : device_(device), start_(std::chrono::steady_clock::now()) {}

double StepClock::lap() {
  synchronize(device_);
  const auto now = std::chrono::steady_clock::now();
  const double seconds = std::chrono::duration<double>(now - start_).count();
  start_ = now;
  return seconds;
}

std::unique_ptr<Runner> make_runner(Communicator& comm) {
  if (!comm.mesh())
    throw UsageError("a runner needs a communicator made with its mesh");
  const ParallelConfig& config = comm.mesh()->config();
  if (config.pipefusion_degree > 1) {
    return std::make_unique<PipeFusionRunner>(*comm.mesh(), comm.group(Dim::kPipeline),
                                              comm.group(Dim::kUlysses), comm.group(Dim::kRing));
  }
  if (config.distrifusion_degree > 1)
    return std::make_unique<DistriFusionRunner>(comm.group(Dim::kDistriFusion),
                                                config.warmup_steps);
  return std::make_unique<SynchronousRunner>(comm.group(Dim::kSequence), comm.group(Dim::kUlysses),
                                             comm.group(Dim::kRing));
}

}  // namespace xdit::parallel
