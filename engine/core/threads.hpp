#pragma once
// Compute thread control. Debian's LibTorch runs GEMMs in OpenBLAS, whose
// thread pool ATen's set_num_threads does not reach, so both are set here:
// a rank that owns one core must not start threads on its neighbour's.

namespace xdit {

// Sets ATen's intra-op threads and, when the BLAS is OpenBLAS, its threads.
void set_compute_threads(int threads);

// The number of cores this process may run on (affinity mask aware).
int available_cores();

}  // namespace xdit
