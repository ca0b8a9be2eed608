#include "workers/launched_worker.hpp"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <mutex>
#include <thread>

#include "parallel/comm_error.hpp"
#include "workers/control_channel.hpp"
#include "workers/rank_worker.hpp"
#include "workers/worker_error.hpp"
#include "workers/worker_main.hpp"

namespace xdit::workers {
namespace {

[[noreturn]] void end_process(int status) {
  std::fflush(nullptr);
  // Also skips LibTorch's static destructors, which c10d's threads may race.
  std::_Exit(status);
}

// Messages from the launcher, read by a thread that never waits for the
// compute: the only way a worker busy in a step learns that the launcher is
// gone. The thread stops reading after a shutdown, and ends the process on
// end-of-file before one.
class Inbox {
 public:
  // `store_file`: the launcher's rendezvous file, removed with its directory
  // should the launcher die first (killed, it cannot remove them itself).
  Inbox(ControlChannel& channel, std::filesystem::path store_file)
      : channel_(channel), store_file_(std::move(store_file)) {
    std::thread([this] { read(); }).detach();
  }

  Message pop() {
    std::unique_lock lock(mutex_);
    arrived_.wait(lock, [this] { return !messages_.empty() || error_; });
    if (messages_.empty())
      std::rethrow_exception(error_);
    Message message = std::move(messages_.front());
    messages_.pop_front();
    return message;
  }

 private:
  void read() {
    for (;;) {
      std::vector<Message> received;
      try {
        received = channel_.receive();
      } catch (...) {
        std::lock_guard lock(mutex_);
        error_ = std::current_exception();
        arrived_.notify_one();
        return;
      }
      if (channel_.closed()) {
        spdlog::warn("the launcher closed the control channel; exiting");
        remove_launcher_leftovers();
        end_process(kExitLauncherGone);
      }
      std::lock_guard lock(mutex_);
      for (auto& message : received) {
        const bool shutdown = std::holds_alternative<ShutdownMessage>(message);
        messages_.push_back(std::move(message));
        if (shutdown) {
          arrived_.notify_one();
          return;
        }
      }
      arrived_.notify_one();
    }
  }

  // Every rank may try; the first wins, the others find nothing. Only the
  // file and then the directory if empty: never more than the launcher made.
  void remove_launcher_leftovers() noexcept {
    if (store_file_.empty())
      return;
    std::error_code ignored;
    std::filesystem::remove(store_file_, ignored);
    std::filesystem::remove(store_file_.parent_path(), ignored);
  }

  ControlChannel& channel_;
  std::filesystem::path store_file_;
  std::mutex mutex_;
  std::condition_variable arrived_;
  std::deque<Message> messages_;
  std::exception_ptr error_;
};

std::string kind_of(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const parallel::CommError&) {
    return "comm";
  } catch (const UsageError&) {
    return "usage";
  } catch (const ConfigError&) {
    return "config";
  } catch (const FileError&) {
    return "file";
  } catch (const WeightError&) {
    return "weight";
  } catch (...) {
    return "internal";
  }
}

std::string message_of(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an exception of unknown type";
  }
}

void serve_request(RankWorker& worker, ControlChannel& channel, const RequestMessage& request) {
  const int rank = worker.rank();
  RankCallbacks callbacks;
  callbacks.on_step = [&](const StepReport& step) {
    channel.send(ProgressMessage{request.id, rank, step.step, step.total, step.seconds, step.comm,
                                 step.memory});
  };
  if (rank == 0 && request.preview_every > 0) {
    callbacks.on_latents = [&](const at::Tensor& latents, int64_t step) {
      if (step % request.preview_every == 0) {
        channel.send(PreviewMessage{request.id, step, latents});
      }
    };
  }
  RankOutcome outcome = worker.generate(request.request, callbacks);
  channel.send(MetricsMessage{request.id, rank, outcome.result.step_seconds,
                              outcome.result.encode_seconds, outcome.result.decode_seconds,
                              outcome.comm, outcome.memory, outcome.timeline});
  if (rank == 0)
    channel.send(ResultMessage{request.id, std::move(outcome.result)});
}

template <typename T>
T expect(Message message, const char* when) {
  if (auto* expected = std::get_if<T>(&message))
    return std::move(*expected);
  throw ProtocolError("unexpected '" + std::string(message_name(message)) + "' message " + when);
}

}  // namespace

void serve_launcher(const RankEnvironment& environment) {
  ControlChannel channel(*environment.control_fd);
  Inbox inbox(channel, environment.store_file);
  try {
    const auto setup = expect<SetupMessage>(inbox.pop(), "before setup");
    RankWorker worker(environment, setup.spec);
    channel.send(ReadyMessage{worker.rank(), worker.load_seconds(), worker.memory(),
                              worker.transformer_parameter_bytes()});
    for (;;) {
      Message message = inbox.pop();
      if (std::holds_alternative<ShutdownMessage>(message))
        end_process(kExitOk);
      serve_request(worker, channel, expect<RequestMessage>(std::move(message), "after setup"));
    }
  } catch (...) {
    const std::exception_ptr error = std::current_exception();
    const std::string text = message_of(error);
    try {
      // The launcher shows it, naming this rank; logged here too it would
      // appear twice on a terminal the ranks share.
      channel.send(ErrorMessage{environment.rank, kind_of(error), text});
      spdlog::debug("{}", text);
    } catch (const std::exception&) {
      spdlog::error("{}", text);
    }
    end_process(kExitFailed);
  }
}

}  // namespace xdit::workers
