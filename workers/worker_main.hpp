#pragma once
// The xdit-worker process: one rank of a worker group. Started by the xdit
// launcher (XDIT_CONTROL_FD set) it serves requests over its control channel
// until shutdown, keeping the pipeline loaded; started by torchrun
// --no-python or srun it runs the one request on its command line (the
// flags of `xdit generate`), rank 0 writes the outputs, and it exits.

namespace xdit::workers {

// Exit statuses of xdit-worker.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;        // an error, reported (channel or stderr)
inline constexpr int kExitUsage = 2;         // a bad command line or environment
inline constexpr int kExitLauncherGone = 4;  // the launcher died or closed the channel

int worker_main(int argc, char** argv);

}  // namespace xdit::workers
