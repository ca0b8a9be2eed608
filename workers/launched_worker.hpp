#pragma once
// A worker started by the xdit launcher: reads its control channel on a
// thread of its own (so that the launcher's death ends it at once, even in
// the middle of a step), then
//
//   setup → rendezvous and load → ready → { request → progress…, preview…,
//   metrics, result } … → shutdown
//
// Any error is sent as an error message naming this rank, and the worker
// exits: the launcher then stops the rest of the group.

#include "workers/rank_environment.hpp"

namespace xdit::workers {

// Ends the process with its exit status (worker_main.hpp): kExitOk after a
// shutdown, kExitFailed after reporting an error, kExitLauncherGone when the
// channel closes without a shutdown. It never returns, because the reader
// thread may still be blocked on the channel, which must outlive it.
[[noreturn]] void serve_launcher(const RankEnvironment& environment);

}  // namespace xdit::workers
