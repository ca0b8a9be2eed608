#include "workers/launcher.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <thread>

#include "parallel/parallel_config.hpp"
#include "pipelines/builtin_models.hpp"
#include "pipelines/dit_pipeline.hpp"
#include "workers/child_process.hpp"
#include "workers/control_channel.hpp"
#include "workers/failure_report.hpp"
#include "workers/worker_error.hpp"
#include "workers/worker_spawn.hpp"

namespace xdit::workers {
namespace {

// How often the launcher looks at its children between messages: the delay
// in noticing a worker that died without closing its channel first.
constexpr int kPollMilliseconds = 100;

constexpr const char* kStoreFileName = "store";

GroupSpec resolved(GroupSpec spec) {
  spec.model = pipelines::resolve_model(spec.model).string();
  return spec;
}

std::pair<UniqueFd, UniqueFd> make_wake_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    throw WorkerError(WorkerError::kNoRank,
                      std::string("cannot create a pipe: ") + std::strerror(errno));
  }
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

std::string workers_text(size_t count) {
  return count == 1 ? "the worker" : "the " + std::to_string(count) + " workers";
}

}  // namespace

struct Launcher::Worker {
  int rank = 0;
  ChildProcess process;
  ControlChannel channel{-1};
  std::optional<std::filesystem::path> log;
  std::optional<ErrorMessage> error;
  bool lost = false;  // ended or closed its channel while the group was running
  bool ready = false;
};

Launcher::Launcher(GroupSpec spec, LaunchOptions options)
    : spec_(resolved(std::move(spec))),
      options_(std::move(options)),
      folder_(spec_.model, spec_.variant) {
  parallel::check_degrees(spec_.parallel, spec_.world_size);
  spec_.pipeline_options();  // a bad dtype is refused here, not by every worker
  auto [wake_read, wake_write] = make_wake_pipe();
  wake_read_ = std::move(wake_read);
  wake_write_ = std::move(wake_write);
  if (spec_.world_size > 1)
    rendezvous_ = PrivateDirectory("xdit-group-");
  start_workers();
}

Launcher::~Launcher() {
  stop();
}

void Launcher::start_workers() {
  const auto executable = find_worker_executable(options_.worker_executable);
  if (!options_.log_dir.empty())
    std::filesystem::create_directories(options_.log_dir);
  const std::vector<int> cores = usable_cores();
  const bool pin = options_.pin_cores && options_.threads_per_worker == 1 &&
                   static_cast<int>(cores.size()) >= spec_.world_size;
  workers_.reserve(spec_.world_size);
  running_ = true;
  for (int rank = 0; rank < spec_.world_size; ++rank) {
    auto [mine, theirs] = ControlChannel::make_pair();
    WorkerSlot slot;
    slot.rank = rank;
    slot.world_size = spec_.world_size;
    slot.store_file = store_file();
    if (pin)
      slot.cpu_core = cores[rank];
    slot.threads = std::max(options_.threads_per_worker, 1);
    slot.visible_gpus = spec_.gpus;
    slot.control_fd = theirs.fd();
    if (!options_.log_dir.empty()) {
      slot.log = options_.log_dir / ("rank" + std::to_string(rank) + ".log");
    }
    // The group's own process group, led by rank 0: Ctrl-C in a terminal
    // reaches the launcher only, which then stops the workers in order.
    slot.process_group = rank == 0 ? 0 : workers_.front().process.pid();
    Worker& worker = workers_.emplace_back();
    worker.rank = rank;
    worker.log = slot.log;
    worker.process = spawn_worker(executable, slot);
    mine.set_nonblocking();
    worker.channel = std::move(mine);
  }
  send_all(SetupMessage{spec_});
}

std::filesystem::path Launcher::store_file() const {
  if (rendezvous_.path().empty())
    return {};
  return rendezvous_.path() / kStoreFileName;
}

std::vector<pid_t> Launcher::pids() const {
  std::vector<pid_t> out;
  for (const Worker& worker : workers_)
    out.push_back(worker.process.pid());
  return out;
}

void Launcher::send_all(const Message& message) {
  for (Worker& worker : workers_) {
    try {
      worker.channel.send(message);
    } catch (const WorkerError&) {
      worker.lost = true;  // the next pump says why
    }
  }
}

void Launcher::accept_ready(int rank, const Message& message, const GroupCallbacks& callbacks) {
  const auto* ready = std::get_if<ReadyMessage>(&message);
  if (!ready || ready_) {
    throw ProtocolError("rank " + std::to_string(rank) + " sent an unexpected '" +
                        std::string(message_name(message)) + "' message between requests");
  }
  workers_[rank].ready = true;
  if (callbacks.on_ready)
    callbacks.on_ready(*ready);
  ready_ = std::all_of(workers_.begin(), workers_.end(), [](const Worker& w) { return w.ready; });
}

void Launcher::wait_ready(const GroupCallbacks& callbacks) {
  pump([&](int rank, Message&& message) { accept_ready(rank, message, callbacks); },
       [this] { return ready_; });
}

GroupResult Launcher::generate(const pipelines::GenerationRequest& request,
                               const GroupCallbacks& callbacks, int64_t preview_every) {
  if (running_) {
    parallel::validate(spec_.parallel, spec_.world_size, pipelines::model_facts(folder_, request));
  }
  wait_ready(callbacks);
  const int64_t id = ++next_request_id_;
  send_all(RequestMessage{id, request, preview_every});

  GroupResult out;
  out.metrics.resize(workers_.size());
  std::vector<bool> measured(workers_.size(), false);
  bool has_result = false;
  pump(
      [&](int rank, Message&& message) {
        if (auto* progress = std::get_if<ProgressMessage>(&message)) {
          if (callbacks.on_progress)
            callbacks.on_progress(*progress);
        } else if (auto* preview = std::get_if<PreviewMessage>(&message)) {
          if (callbacks.on_preview)
            callbacks.on_preview(*preview);
        } else if (auto* metrics = std::get_if<MetricsMessage>(&message)) {
          measured[rank] = true;
          if (callbacks.on_metrics)
            callbacks.on_metrics(*metrics);
          out.metrics[rank] = std::move(*metrics);
        } else if (auto* result = std::get_if<ResultMessage>(&message); result && rank == 0) {
          out.result = std::move(result->result);
          has_result = true;
        } else {
          throw ProtocolError("rank " + std::to_string(rank) + " sent an unexpected '" +
                              std::string(message_name(message)) + "' message during a request");
        }
      },
      [&] {
        for (bool m : measured) {
          if (!m)
            return false;
        }
        return has_result;
      });
  return out;
}

void Launcher::check() {
  bool looked = false;
  pump([this](int rank, Message&& message) { accept_ready(rank, message, {}); },
       [&looked] { return std::exchange(looked, true); });
}

void Launcher::pump(const Handler& handle, const std::function<bool()>& done) {
  if (!running_) {
    throw WorkerError(WorkerError::kNoRank,
                      "the worker group has been stopped; start a new one to generate again");
  }
  try {
    for (;;) {
      if (cancel_requested_.load()) {
        shut_down(false);
        throw GroupCancelled("cancelled: " + workers_text(workers_.size()) + " stopped");
      }
      for (const Worker& worker : workers_) {
        if (worker.lost || worker.error)
          fail();
      }
      if (done())
        return;
      std::vector<pollfd> fds = {{wake_read_.get(), POLLIN, 0}};
      for (const Worker& worker : workers_)
        fds.push_back({worker.channel.fd(), POLLIN, 0});
      ::poll(fds.data(), fds.size(), kPollMilliseconds);
      char drained[64];
      while (::read(wake_read_.get(), drained, sizeof(drained)) > 0) {
      }
      for (size_t i = 0; i < workers_.size(); ++i) {
        if (fds[i + 1].revents != 0)
          read_worker(workers_[i], handle);
      }
      for (Worker& worker : workers_) {
        if (worker.process.poll())
          worker.lost = true;
      }
    }
  } catch (...) {
    // Whatever went wrong (a failure, cancel, a throwing callback), the ranks
    // are no longer in step: the group cannot serve another request.
    shut_down(false);
    throw;
  }
}

void Launcher::read_worker(Worker& worker, const Handler& handle) {
  std::vector<Message> messages;
  try {
    messages = worker.channel.receive();
  } catch (const ProtocolError& e) {
    throw WorkerError(worker.rank, "rank " + std::to_string(worker.rank) +
                                       " sent a broken control message: " + e.what());
  }
  for (Message& message : messages) {
    if (auto* error = std::get_if<ErrorMessage>(&message)) {
      worker.error = std::move(*error);
      worker.error->rank = worker.rank;
    } else if (!worker.error) {
      handle(worker.rank, std::move(message));
    }
  }
  if (worker.channel.closed())
    worker.lost = true;
}

void Launcher::fail() {
  shut_down(false);
  std::vector<RankFate> fates;
  for (const Worker& worker : workers_) {
    fates.push_back({worker.rank, worker.process.pid(), worker.error, worker.lost,
                     worker.process.describe_exit(), worker.log});
  }
  throw describe_failure(fates);
}

void Launcher::cancel() noexcept {
  cancel_requested_.store(true);
  const char byte = 1;
  // Only async-signal-safe calls: this may run in a signal handler.
  [[maybe_unused]] const ssize_t written = ::write(wake_write_.get(), &byte, 1);
}

void Launcher::stop() noexcept {
  shut_down(true);
}

void Launcher::shut_down(bool politely) noexcept {
  if (!running_)
    return;
  running_ = false;
  if (politely) {
    for (Worker& worker : workers_) {
      try {
        if (!worker.channel.closed())
          worker.channel.send(ShutdownMessage{});
      } catch (const std::exception&) {
        // Already gone: the signals below are then no-ops.
      }
    }
  }
  if (!politely || !wait_exits(options_.grace)) {
    for (Worker& worker : workers_)
      worker.process.signal(SIGTERM);
    if (!wait_exits(options_.grace)) {
      for (Worker& worker : workers_)
        worker.process.kill_and_reap();
    }
  }
  drain_errors();
  // Every worker has been reaped: no one reads the file any more.
  rendezvous_.reset();
}

bool Launcher::wait_exits(std::chrono::milliseconds timeout) noexcept {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    drain_errors();
    bool all = true;
    for (Worker& worker : workers_)
      all = worker.process.poll() && all;
    if (all)
      return true;
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void Launcher::drain_errors() noexcept {
  // Keeps the error reports a failing group writes as it goes down (the
  // root cause is often among them); everything else is moot now.
  for (Worker& worker : workers_) {
    try {
      for (Message& message : worker.channel.receive()) {
        if (auto* error = std::get_if<ErrorMessage>(&message); error && !worker.error) {
          worker.error = std::move(*error);
          worker.error->rank = worker.rank;
        }
      }
    } catch (const std::exception&) {
      // A broken message from a dying worker adds nothing.
    }
  }
}

}  // namespace xdit::workers
