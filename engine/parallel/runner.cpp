#include "parallel/runner.hpp"

#include "core/error.hpp"
#include "parallel/distrifusion_runner.hpp"
#include "parallel/synchronous_runner.hpp"

namespace xdit::parallel {

std::unique_ptr<Runner> make_runner(Communicator& comm) {
  if (!comm.mesh())
    throw UsageError("a runner needs a communicator made with its mesh");
  const ParallelConfig& config = comm.mesh()->config();
  if (config.pipefusion_degree > 1) {
    throw UsageError("PipeFusion (--pipefusion_parallel_degree " +
                     std::to_string(config.pipefusion_degree) +
                     ") is not available yet: use ulysses, ring, tensor, cfg or data parallel");
  }
  if (config.distrifusion_degree > 1)
    return std::make_unique<DistriFusionRunner>(comm.group(Dim::kDistriFusion),
                                                config.warmup_steps);
  return std::make_unique<SynchronousRunner>(comm.group(Dim::kSequence), comm.group(Dim::kUlysses),
                                             comm.group(Dim::kRing));
}

}  // namespace xdit::parallel
