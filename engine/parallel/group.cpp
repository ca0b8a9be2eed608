#include "parallel/group.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <numeric>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>

#include "core/gpu_info.hpp"
#include "parallel/comm_error.hpp"
#include "parallel/comm_text.hpp"

namespace xdit::parallel {

// The link, shared by groups with the same members, and the first failure
// seen on it: after one, its members are out of step.
struct Group::Channel {
  GroupLink link;
  std::string failure;
};

struct PendingOp::State {
  Group* group;
  CommOp op;
  std::string what;
  at::Device device;                        // of the caller's tensors
  c10::intrusive_ptr<XDIT_C10D_WORK> work;  // null when nothing left the process
  std::function<at::Tensor()> finish;
};

namespace {

int64_t normalized_dim(int64_t dim, const at::Tensor& tensor) {
  const int64_t rank = tensor.dim();
  const int64_t d = dim < 0 ? dim + rank : dim;
  if (d < 0 || d >= rank) {
    throw UsageError("dim " + std::to_string(dim) + " is outside a tensor of " +
                     std::to_string(rank) + " dimensions");
  }
  return d;
}

double seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

// ---- PendingOp ----

PendingOp::PendingOp() = default;
PendingOp::PendingOp(std::unique_ptr<State> state) : state_(std::move(state)) {}
PendingOp::PendingOp(PendingOp&& other) noexcept = default;

PendingOp& PendingOp::operator=(PendingOp&& other) noexcept {
  if (this != &other) {
    complete_quietly();
    state_ = std::move(other.state_);
  }
  return *this;
}

PendingOp::~PendingOp() {
  complete_quietly();
}

at::Tensor PendingOp::wait() {
  if (!state_)
    throw UsageError("wait() on a communication handle that holds no operation");
  const std::unique_ptr<State> state = std::move(state_);
  return state->group->complete(*state);
}

void PendingOp::complete_quietly() noexcept {
  if (!state_)
    return;
  try {
    wait();
  } catch (const std::exception& e) {
    spdlog::warn("{} (its handle was dropped without wait())", e.what());
  }
}

// ---- Group ----

Group::Group(std::string name, std::vector<int> ranks, int rank, GroupLink link,
             std::chrono::milliseconds timeout, CommStats& stats)
    : Group(std::move(name), std::move(ranks), rank,
            std::make_shared<Channel>(Channel{std::move(link), {}}), timeout, stats) {}

Group::Group(std::string name, std::vector<int> ranks, int rank, std::shared_ptr<Channel> channel,
             std::chrono::milliseconds timeout, CommStats& stats)
    : name_(std::move(name)),
      ranks_(std::move(ranks)),
      rank_(rank),
      index_(0),
      channel_(std::move(channel)),
      timeout_(timeout),
      stats_(stats) {
  const auto it = std::find(ranks_.begin(), ranks_.end(), rank_);
  if (it == ranks_.end()) {
    throw UsageError("rank " + std::to_string(rank_) + " is not a member of group '" + name_ +
                     "' (ranks " + rank_list(ranks_) + ")");
  }
  index_ = static_cast<int>(it - ranks_.begin());
  if ((ranks_.size() > 1) != static_cast<bool>(channel_->link.backend)) {
    throw UsageError("group '" + name_ + "': a backend is needed exactly when it has peers");
  }
}

Group::~Group() = default;

std::unique_ptr<Group> Group::renamed(std::string name) const {
  return std::unique_ptr<Group>(
      new Group(std::move(name), ranks_, rank_, channel_, timeout_, stats_));
}

int Group::member_index(int rank, const char* role) const {
  const auto it = std::find(ranks_.begin(), ranks_.end(), rank);
  if (it == ranks_.end()) {
    throw UsageError(std::string(role) + " rank " + std::to_string(rank) +
                     " is not a member of group '" + name_ + "' (ranks " + rank_list(ranks_) + ")");
  }
  return static_cast<int>(it - ranks_.begin());
}

std::string Group::context(CommOp op, const std::string& what) const {
  return "rank " + std::to_string(rank_) + ": " + std::string(op_name(op)) +
         (what.empty() ? "" : " " + what) + " in group '" + name_ + "' (ranks " +
         rank_list(ranks_) + ")";
}

void Group::fail(CommOp op, const std::string& what, std::exception_ptr error,
                 std::chrono::steady_clock::duration waited) {
  std::string message = context(op, what) + " failed";
  // 95%: the backend's own deadline may fire a little before ours.
  if (waited >= timeout_ * 95 / 100) {
    message += " at the " + seconds_text(timeout_) +
               " timeout: a peer is dead, stuck, or not calling the same operation";
  }
  const std::string cause = message_of(error);
  // Gloo's words for a connection that a dead process left behind.
  for (const char* sign : {"onnection closed", "onnection reset", "roken pipe"}) {
    if (cause.find(sign) != std::string::npos) {
      message += ": a peer process has probably exited or crashed";
      break;
    }
  }
  message += " (" + cause + ")";
  if (channel_->failure.empty())
    channel_->failure = message;
  throw CommError(message);
}

bool Group::host_staged() const {
  return channel_->link.host_staged && channel_->link.backend;
}

at::Device Group::wire_device(const at::Tensor& like) const {
  if (!channel_->link.backend)
    return like.device();
  return host_staged() ? at::Device(at::kCPU) : channel_->link.device;
}

at::Tensor Group::wire(const at::Tensor& tensor) const {
  const at::Device device = wire_device(tensor);
  if (device == tensor.device() && !host_staged())
    return tensor.contiguous();
  at::Tensor copy = at::empty(tensor.sizes(), tensor.options().device(device));
  copy.copy_(tensor);
  return copy;
}

at::Tensor Group::wire_buffer(at::IntArrayRef sizes, const at::Tensor& like) const {
  return at::empty(sizes, like.options().device(wire_device(like)));
}

XDIT_C10D_BACKEND* Group::point_to_point_backend(int peer_index, bool sending) const {
  const int receiver = sending ? peer_index : index_;
  const int sender = sending ? index_ : peer_index;
  if (channel_->link.toward_lower && receiver < sender)
    return channel_->link.toward_lower.get();
  return channel_->link.backend.get();
}

PendingOp Group::start(CommOp op, std::string what, int64_t bytes_sent, int64_t bytes_received,
                       at::Device device, const Issue& issue, std::function<at::Tensor()> finish,
                       XDIT_C10D_BACKEND* backend) {
  if (!channel_->failure.empty()) {
    throw CommError(context(op, what) + " refused: the group failed earlier (" + channel_->failure +
                    ")");
  }
  auto state = std::make_unique<PendingOp::State>(
      PendingOp::State{this, op, std::move(what), device, {}, std::move(finish)});
  stats_.record(op, bytes_sent, bytes_received);
  if (channel_->link.backend) {
    try {
      state->work = issue(backend ? *backend : *channel_->link.backend);
    } catch (...) {
      fail(op, state->what, std::current_exception(), {});
    }
  }
  return PendingOp(std::move(state));
}

at::Tensor Group::complete(PendingOp::State& state) {
  // GPU work is queued: waiting for the computation that feeds the operation
  // first keeps that time out of the communication's on the timeline (NCCL
  // runs on its own stream and its waits block: see nccl_backend.cpp).
  if (state.work && state.device.is_cuda())
    synchronize(state.device);
  const auto begin = std::chrono::steady_clock::now();
  if (state.work) {
    try {
      if (!state.work->wait(timeout_)) {
        throw std::runtime_error("the backend abandoned the operation");
      }
    } catch (...) {
      const auto failed = std::chrono::steady_clock::now();
      stats_.add_wait(state.op, begin, failed);
      fail(state.op, state.what, std::current_exception(), failed - begin);
    }
    // Only a wait on a peer belongs on the timeline.
    stats_.add_wait(state.op, begin, std::chrono::steady_clock::now());
  } else {
    stats_.add_wait(state.op, seconds(std::chrono::steady_clock::now() - begin));
  }
  return state.finish ? state.finish() : at::Tensor();
}

// ---- point to point ----

void Group::send(const at::Tensor& tensor, int dst, int tag) {
  isend(tensor, dst, tag).wait();
}

void Group::recv(at::Tensor& tensor, int src, int tag) {
  irecv(tensor, src, tag).wait();
}

PendingOp Group::isend(const at::Tensor& tensor, int dst, int tag) {
  const int peer = member_index(dst, "destination");
  if (peer == index_)
    throw UsageError("group '" + name_ + "': a rank cannot send to itself");
  std::vector<at::Tensor> buffers{wire(tensor)};
  return start(
      CommOp::kSend, "of " + byte_size(tensor.nbytes()) + " to rank " + std::to_string(dst),
      tensor.nbytes(), 0, tensor.device(),
      [buffers, peer, tag](XDIT_C10D_BACKEND& backend) mutable {
        return backend.send(buffers, peer, tag);
      },
      [buffers, tensor] { return buffers[0].is_same(tensor) ? buffers[0] : tensor.contiguous(); },
      point_to_point_backend(peer, true));
}

PendingOp Group::irecv(const at::Tensor& tensor, int src, int tag) {
  const int peer = member_index(src, "source");
  if (peer == index_)
    throw UsageError("group '" + name_ + "': a rank cannot receive from itself");
  // Received straight into the caller's tensor when its memory allows.
  const bool direct =
      tensor.is_contiguous() && !host_staged() && wire_device(tensor) == tensor.device();
  std::vector<at::Tensor> buffers{direct ? tensor : wire_buffer(tensor.sizes(), tensor)};
  return start(
      CommOp::kRecv, "of " + byte_size(tensor.nbytes()) + " from rank " + std::to_string(src), 0,
      tensor.nbytes(), tensor.device(),
      [buffers, peer, tag](XDIT_C10D_BACKEND& backend) mutable {
        return backend.recv(buffers, peer, tag);
      },
      [buffers, tensor] {
        if (!buffers[0].is_same(tensor))
          tensor.copy_(buffers[0]);
        return tensor;
      },
      point_to_point_backend(peer, false));
}

// ---- collectives ----

PendingOp Group::start_all_gather(const at::Tensor& tensor,
                                  std::function<at::Tensor(const at::Tensor&)> arrange) {
  const int n = size();
  std::vector<at::Tensor> input{wire(tensor)};
  std::vector<int64_t> stacked_shape{n};
  for (int64_t s : tensor.sizes())
    stacked_shape.push_back(s);
  // The members' pieces land in one [n, ...] tensor; c10d copies into views.
  // Gloo copies on its own thread, outside the caller's InferenceMode, where
  // an inference tensor may not be written: the buffer is a normal tensor.
  at::Tensor stacked;
  {
    const c10::InferenceMode normal_tensors(false);
    stacked = n == 1 ? input[0].unsqueeze(0) : wire_buffer(stacked_shape, tensor);
  }
  std::vector<std::vector<at::Tensor>> outputs(1);
  for (int i = 0; i < n && n > 1; ++i)
    outputs[0].push_back(stacked[i]);
  const int64_t bytes = tensor.nbytes() * (n - 1);
  return start(
      CommOp::kAllGather, "of " + byte_size(tensor.nbytes()), bytes, bytes, tensor.device(),
      [input, outputs](XDIT_C10D_BACKEND& backend) mutable {
        return backend.allgather(outputs, input);
      },
      [stacked, arrange, device = tensor.device()] { return arrange(stacked).to(device); });
}

std::vector<at::Tensor> Group::all_gather(const at::Tensor& tensor) {
  return start_all_gather(tensor, [](const at::Tensor& stacked) { return stacked; })
      .wait()
      .unbind(0);
}

PendingOp Group::all_gather_async(const at::Tensor& tensor, int64_t dim) {
  const int64_t d = normalized_dim(dim, tensor);
  // [n, ..., size_d, ...] -> [..., n * size_d, ...]: member-major, as a concatenation.
  return start_all_gather(tensor, [d](const at::Tensor& stacked) {
    return stacked.movedim(0, d).flatten(d, d + 1).contiguous();
  });
}

at::Tensor Group::all_gather(const at::Tensor& tensor, int64_t dim) {
  return all_gather_async(tensor, dim).wait();
}

at::Tensor Group::all_to_all(const at::Tensor& tensor, int64_t scatter_dim, int64_t gather_dim) {
  const int n = size();
  const int64_t scatter = normalized_dim(scatter_dim, tensor);
  const int64_t gather = normalized_dim(gather_dim, tensor);
  if (tensor.size(scatter) % n != 0) {
    throw UsageError(context(CommOp::kAllToAll, "") + ": dim " + std::to_string(scatter) +
                     " of size " + std::to_string(tensor.size(scatter)) + " does not split into " +
                     std::to_string(n) + " equal chunks");
  }
  // c10d splits rows of dim 0, so the scattered dim goes first.
  std::vector<at::Tensor> input{wire(tensor.movedim(scatter, 0))};
  std::vector<at::Tensor> output{n == 1 ? input[0] : at::empty_like(input[0])};
  const int64_t bytes = tensor.nbytes() / n * (n - 1);
  return start(
             CommOp::kAllToAll, "of " + byte_size(tensor.nbytes()), bytes, bytes, tensor.device(),
             [input, output](XDIT_C10D_BACKEND& backend) mutable {
               std::vector<int64_t> even;  // empty: equal splits
               return backend.alltoall_base(output[0], input[0], even, even);
             },
             [output, n, scatter, gather, device = tensor.device()] {
               std::vector<at::Tensor> pieces;
               for (const at::Tensor& piece : output[0].to(device).chunk(n, 0)) {
                 pieces.push_back(piece.movedim(0, scatter));
               }
               return at::cat(pieces, gather);
             })
      .wait();
}

at::Tensor Group::all_to_all_uneven(const at::Tensor& tensor,
                                    const std::vector<int64_t>& input_splits,
                                    const std::vector<int64_t>& output_splits) {
  const int n = size();
  const auto sum = [](const std::vector<int64_t>& v) {
    return std::accumulate(v.begin(), v.end(), int64_t{0});
  };
  const bool shaped =
      tensor.dim() >= 1 && static_cast<int>(input_splits.size()) == n &&
      static_cast<int>(output_splits.size()) == n && sum(input_splits) == tensor.size(0) &&
      std::all_of(input_splits.begin(), input_splits.end(), [](int64_t s) { return s >= 0; }) &&
      std::all_of(output_splits.begin(), output_splits.end(), [](int64_t s) { return s >= 0; }) &&
      (n > 1 || output_splits[0] == input_splits[0]);
  if (!shaped) {
    throw UsageError(context(CommOp::kAllToAll, "") + ": the splits need one non-negative row " +
                     "count per member, input splits summing to the " +
                     std::to_string(tensor.dim() ? tensor.size(0) : 0) + " rows of dim 0");
  }
  std::vector<int64_t> shape = tensor.sizes().vec();
  shape[0] = sum(output_splits);
  std::vector<at::Tensor> input{wire(tensor)};
  std::vector<at::Tensor> output{n == 1 ? input[0] : wire_buffer(shape, tensor)};
  const int64_t row = tensor.size(0) ? tensor.nbytes() / tensor.size(0) : 0;
  return start(
             CommOp::kAllToAll, "of " + byte_size(tensor.nbytes()) + " in uneven splits",
             (sum(input_splits) - input_splits[index_]) * row,
             (sum(output_splits) - output_splits[index_]) * row, tensor.device(),
             [input, output, in = input_splits,
              out = output_splits](XDIT_C10D_BACKEND& backend) mutable {
               return backend.alltoall_base(output[0], input[0], out, in);
             },
             [output, device = tensor.device()] { return output[0].to(device); })
      .wait();
}

void Group::all_reduce_sum_(at::Tensor& tensor) {
  const int n = size();
  std::vector<at::Tensor> buffers{wire(tensor)};
  const int64_t bytes = tensor.nbytes() * 2 * (n - 1) / n;
  start(
      CommOp::kAllReduce, "(sum) of " + byte_size(tensor.nbytes()), bytes, bytes, tensor.device(),
      [buffers, this](XDIT_C10D_BACKEND& backend) mutable {
        c10d::AllreduceOptions options;
        options.reduceOp = c10d::ReduceOp::SUM;
        options.timeout = timeout_;
        return backend.allreduce(buffers, options);
      },
      [buffers, tensor] {
        if (!buffers[0].is_same(tensor))
          tensor.copy_(buffers[0]);
        return tensor;
      })
      .wait();
}

at::Tensor Group::all_reduce_sum(const at::Tensor& tensor) {
  at::Tensor sum = tensor.clone(at::MemoryFormat::Contiguous);
  all_reduce_sum_(sum);
  return sum;
}

void Group::broadcast_(at::Tensor& tensor, int root) {
  const int root_index = member_index(root, "root");
  const int n = size();
  std::vector<at::Tensor> buffers{wire(tensor)};
  const bool is_root = root_index == index_;
  start(
      CommOp::kBroadcast, "of " + byte_size(tensor.nbytes()) + " from rank " + std::to_string(root),
      is_root ? tensor.nbytes() * (n - 1) : 0, is_root ? 0 : tensor.nbytes(), tensor.device(),
      [buffers, root_index, this](XDIT_C10D_BACKEND& backend) mutable {
        c10d::BroadcastOptions options;
        options.rootRank = root_index;
        options.timeout = timeout_;
        return backend.broadcast(buffers, options);
      },
      [buffers, tensor] {
        if (!buffers[0].is_same(tensor))
          tensor.copy_(buffers[0]);
        return tensor;
      })
      .wait();
}

void Group::barrier() {
  start(CommOp::kBarrier, "", 0, 0, at::kCPU,
        [this](XDIT_C10D_BACKEND& backend) {
          c10d::BarrierOptions options;
          options.timeout = timeout_;
          return backend.barrier(options);
        },
        {})
      .wait();
}

}  // namespace xdit::parallel
