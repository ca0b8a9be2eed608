#pragma once
// Starts and runs a local worker group: N xdit-worker processes (one per
// core on CPU, one compute thread each), one control channel to each, and
// the rendezvous store they meet at. It stays warm between requests: the
// workers load the model once and serve every generate() until stop().
//
//   workers::Launcher group(spec);             // spawns; returns at once
//   group.wait_ready(callbacks);               // optional: blocks until loaded
//   auto out = group.generate(request, callbacks);   // every rank, result of rank 0
//   auto again = group.generate(other_request);       // no reload
//
// Failure: if a worker reports an error, exits or is killed at any point, the
// launcher stops the others (SIGTERM, then SIGKILL after the grace period)
// and throws WorkerError naming the rank and what happened to it (its error
// text, exit status or signal). cancel() stops the group from any thread or
// from a signal handler, and the waiting call throws GroupCancelled. The
// destructor stops whatever still runs: no process outlives the Launcher,
// and if the launcher's process dies, each worker sees its channel close
// and exits.
//
// Threading: one thread drives a Launcher (the Studio uses a worker thread);
// callbacks run on it. Only cancel() may be called from elsewhere.

#include <c10/util/intrusive_ptr.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

#include "io/model_folder.hpp"
#include "pipelines/generation.hpp"
#include "workers/control_protocol.hpp"
#include "workers/group_spec.hpp"
#include "workers/private_directory.hpp"
#include "workers/unique_fd.hpp"

namespace xdit::workers {

struct LaunchOptions {
  // xdit-worker; empty: $XDIT_WORKER, else the xdit-worker beside this
  // process's executable.
  std::filesystem::path worker_executable;
  // Intra-op threads of each worker (OMP_NUM_THREADS, OpenBLAS, ATen).
  int threads_per_worker = 1;
  // Pin rank r to the r-th core this process may run on, when there are at
  // least as many cores as ranks and each rank has one thread.
  bool pin_cores = true;
  // Worker output into <log_dir>/rank<r>.log (quoted in failure messages);
  // empty: the workers write to this process's stderr.
  std::filesystem::path log_dir;
  // How long workers get to exit after a shutdown and after SIGTERM, each,
  // before SIGKILL: a dead group is gone within about twice this.
  std::chrono::milliseconds grace = std::chrono::seconds(5);
};

struct GroupCallbacks {
  std::function<void(const ReadyMessage&)> on_ready;        // each rank, once loaded
  std::function<void(const ProgressMessage&)> on_progress;  // each rank, each step
  std::function<void(const PreviewMessage&)> on_preview;    // rank 0, every k steps
  std::function<void(const MetricsMessage&)> on_metrics;    // each rank, end of request
};

struct GroupResult {
  pipelines::GenerationResult result;   // rank 0's: images and the whole batch's latents
  std::vector<MetricsMessage> metrics;  // one per rank, by rank
};

class Launcher {
 public:
  // Resolves spec.model (a built-in name is written on first use), checks
  // the degrees against spec.world_size (UsageError, before any process
  // starts), makes the rendezvous directory and starts the workers. Throws
  // WorkerError when a worker cannot be started.
  explicit Launcher(GroupSpec spec, LaunchOptions options = {});
  ~Launcher();
  Launcher(const Launcher&) = delete;
  Launcher& operator=(const Launcher&) = delete;

  // spec.model is the resolved folder.
  const GroupSpec& spec() const { return spec_; }
  // The file the ranks meet through (a c10d::FileStore in a directory of
  // mode 0700, removed when the group stops); empty for a group of one.
  std::filesystem::path store_file() const;
  // Process ids by rank (for tests and diagnostics).
  std::vector<pid_t> pids() const;
  // False once stopped (by stop(), cancel() or a failure): a new group is needed.
  bool running() const { return running_; }

  // Blocks until every rank has loaded the pipeline.
  void wait_ready(const GroupCallbacks& callbacks = {});
  // Checks the request against the mesh (UsageError; the group stays up),
  // then runs it on every rank. Waits for the group to be ready first.
  // `preview_every`: latents from rank 0 every k steps (0: none).
  GroupResult generate(const pipelines::GenerationRequest& request,
                       const GroupCallbacks& callbacks = {}, int64_t preview_every = 0);

  // Between requests: looks for a worker that died or reported an error
  // (waiting at most ~0.1 s), and if one did, stops the group and throws
  // WorkerError as generate() would. A warm group idles otherwise unwatched,
  // so the Studio calls it from a timer to notice a lost worker at once.
  void check();

  // Stops the group; the call driving it throws GroupCancelled. Safe from
  // any thread and from a signal handler (it only sets a flag and writes a
  // byte to a pipe).
  void cancel() noexcept;
  // Asks the workers to exit, then SIGTERM, then SIGKILL, each after the
  // grace period; returns when every worker has been reaped.
  void stop() noexcept;

 private:
  struct Worker;
  using Handler = std::function<void(int rank, Message&& message)>;

  void start_workers();
  // A worker's ready message while loading; anything else between requests
  // is a ProtocolError.
  void accept_ready(int rank, const Message& message, const GroupCallbacks& callbacks);
  // Waits for messages until `done()` holds, passing each to `handle`;
  // throws (after stopping the group) on a failure or cancel().
  void pump(const Handler& handle, const std::function<bool()>& done);
  void read_worker(Worker& worker, const Handler& handle);
  // Stops everything and throws the error describing why.
  [[noreturn]] void fail();
  void shut_down(bool politely) noexcept;
  void drain_errors() noexcept;
  bool wait_exits(std::chrono::milliseconds timeout) noexcept;
  void send_all(const Message& message);

  GroupSpec spec_;
  LaunchOptions options_;
  io::ModelFolder folder_;
  // The rendezvous: a file, not a TCPStore, whose server would listen on
  // every interface. Declared before the workers, so it outlives them.
  PrivateDirectory rendezvous_;
  std::vector<Worker> workers_;
  bool running_ = false;
  bool ready_ = false;
  int64_t next_request_id_ = 0;
  std::atomic<bool> cancel_requested_{false};
  // cancel() writes a byte here to end a poll at once.
  UniqueFd wake_read_;
  UniqueFd wake_write_;
};

}  // namespace xdit::workers
