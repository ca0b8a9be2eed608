// xdit-worker: one rank of a worker group (see workers/worker_main.hpp).

#include <cstdio>
#include <cstdlib>

#include "workers/worker_main.hpp"

int main(int argc, char** argv) {
  const int status = xdit::workers::worker_main(argc, argv);
  std::fflush(nullptr);
  // LibTorch's and c10d's static destructors may race threads they started;
  // a worker has nothing left to clean up.
  std::_Exit(status);
}
