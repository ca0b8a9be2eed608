#pragma once
// A worker started without the xdit launcher (torchrun --no-python, srun, or
// by hand with RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT): takes the request
// from its command line (the flags of `xdit generate`), checks the degrees
// against the model on every rank before meeting the others, generates, and
// rank 0 writes the outputs. Errors go to stderr with the rank.

#include "workers/rank_environment.hpp"

namespace xdit::workers {

// Returns the process's exit status (worker_main.hpp).
int run_standalone(const RankEnvironment& environment, int argc, char** argv);

}  // namespace xdit::workers
