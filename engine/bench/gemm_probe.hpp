#pragma once
// A square product through at::mm: the rate the other cases are measured
// against. Cases that report a ratio run it between their own runs, so that
// both see the same machine (other processes, clocks). On the CPU a 2048^3
// float32 product; on a GPU an 8192^3 bfloat16 one, each run waited for.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>

#include "bench/timing.hpp"

namespace xdit::bench {

// time_once for work queued on `device`: what was queued before is waited
// for first, the run's own work before the clock stops (nothing on a CPU).
Sample time_on(at::Device device, const std::function<void()>& run);

class GemmProbe {
 public:
  explicit GemmProbe(at::Device device = at::kCPU);

  void run();
  int64_t size() const { return a_.size(0); }
  double flops() const;
  // FLOP/s of the fastest run.
  double rate() const { return flops() / timing_.best(); }
  const Timing& timing() const { return timing_; }

 private:
  at::Device device_;
  at::Tensor a_, b_, c_;
  Timing timing_;
};

}  // namespace xdit::bench
