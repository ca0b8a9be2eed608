#pragma once
// One group of ranks that communicate: the world, or this rank's group of one
// mesh dimension. The operations are those the parallel methods need; each is
// counted in the rank's CommStats, bounded by the group's timeout, and throws
// CommError naming the operation, the group and its ranks when a peer fails.
//
// Ranks are global everywhere (destination, source, root), so that a rank
// number means one process in code and in messages; results of collectives
// are ordered as ranks(). Every member must call the same collectives in the
// same order. A group of one member works locally, without a backend.
//
// After an operation fails the group is unusable (members no longer agree on
// the sequence of operations): later calls throw at once, quoting the failure.

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/util/intrusive_ptr.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/torch_compat.hpp"
#include "parallel/comm_stats.hpp"

namespace c10d {
class ProcessGroup;
class Backend;
class Work;
}  // namespace c10d

namespace xdit::parallel {

class Group;

// How the members of a group reach each other.
struct GroupLink {
  // Null exactly when the group has a single member.
  c10::intrusive_ptr<XDIT_C10D_BACKEND> backend;
  // NCCL only: point-to-point messages to a member earlier in ranks() go
  // through this second backend. NCCL runs a pair's sends and receives on
  // one stream in the order they were issued, so a receive posted ahead (as
  // PipeFusion and Ring do) would stall the partner's send queued behind its
  // own posted receive. With one backend per direction each stream carries
  // one direction, whose messages both sides issue in the same order.
  c10::intrusive_ptr<XDIT_C10D_BACKEND> toward_lower;
  // Where the backend takes tensors: the CPU for Gloo, the rank's GPU for
  // NCCL. A tensor elsewhere (a CPU result on a GPU rank) crosses over in a
  // copy, there and back.
  c10::Device device = c10::kCPU;
  // The backend is Gloo but the tensors may live on a GPU (--comm gloo, for
  // ranks sharing a GPU, which NCCL refuses): every tensor crosses through a
  // host copy on its way in and out, even one already there.
  bool host_staged = false;
};

// An operation in flight. wait() completes it; a handle dropped without
// wait() is completed by its destructor (bounded by the timeout; errors are
// then only logged), because the backend may still be reading or writing the
// tensors. The group must outlive its handles.
class PendingOp {
 public:
  PendingOp();
  PendingOp(PendingOp&& other) noexcept;
  PendingOp& operator=(PendingOp&& other) noexcept;
  ~PendingOp();

  // Blocks until done and returns the result: the received tensor of irecv,
  // the gathered tensor of all_gather_async, the sent tensor of isend.
  at::Tensor wait();
  bool pending() const { return state_ != nullptr; }

 private:
  friend class Group;
  struct State;
  explicit PendingOp(std::unique_ptr<State> state);
  void complete_quietly() noexcept;

  std::unique_ptr<State> state_;
};

class Group {
 public:
  // `ranks`: the members in coordinate order; `rank`: this process, one of
  // them. `link.backend` is null exactly when there is a single member.
  Group(std::string name, std::vector<int> ranks, int rank, GroupLink link,
        std::chrono::milliseconds timeout, CommStats& stats);
  ~Group();
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  // The same members and backend under another name (a mesh dimension whose
  // group coincides with another's); a failure in either is seen by both.
  std::unique_ptr<Group> renamed(std::string name) const;

  const std::string& name() const { return name_; }
  const std::vector<int>& ranks() const { return ranks_; }
  int size() const { return static_cast<int>(ranks_.size()); }
  // This process's position in ranks().
  int index() const { return index_; }
  std::chrono::milliseconds timeout() const { return timeout_; }

  // Point to point. The receiver's tensor gives shape and dtype; both sides
  // must agree on them and on the tag.
  void send(const at::Tensor& tensor, int dst, int tag = 0);
  void recv(at::Tensor& tensor, int src, int tag = 0);
  PendingOp isend(const at::Tensor& tensor, int dst, int tag = 0);
  PendingOp irecv(const at::Tensor& tensor, int src, int tag = 0);

  // Every member's tensor (same shape on all), in rank order.
  std::vector<at::Tensor> all_gather(const at::Tensor& tensor);
  // The members' tensors (equal shapes) concatenated along `dim`.
  at::Tensor all_gather(const at::Tensor& tensor, int64_t dim);
  PendingOp all_gather_async(const at::Tensor& tensor, int64_t dim);

  // Ulysses' exchange: `tensor` split evenly along `scatter_dim` into size()
  // chunks, chunk i sent to the i-th member; the chunks received are
  // concatenated along `gather_dim` in rank order.
  at::Tensor all_to_all(const at::Tensor& tensor, int64_t scatter_dim, int64_t gather_dim);
  // c10d's all_to_all_single: rows of dim 0, input_splits[i] rows to member
  // i, output_splits[i] rows from it (uneven allowed; sums must match).
  at::Tensor all_to_all_uneven(const at::Tensor& tensor, const std::vector<int64_t>& input_splits,
                               const std::vector<int64_t>& output_splits);

  // Sum over the members: in place into `tensor` (any layout), or as a new tensor.
  void all_reduce_sum_(at::Tensor& tensor);
  at::Tensor all_reduce_sum(const at::Tensor& tensor);
  // `root`'s tensor into every member's `tensor`.
  void broadcast_(at::Tensor& tensor, int root);
  void barrier();

 private:
  friend class PendingOp;
  struct Channel;

  Group(std::string name, std::vector<int> ranks, int rank, std::shared_ptr<Channel> channel,
        std::chrono::milliseconds timeout, CommStats& stats);

  using Issue = std::function<c10::intrusive_ptr<XDIT_C10D_WORK>(XDIT_C10D_BACKEND&)>;

  // The position of a global rank among the members; UsageError otherwise.
  int member_index(int rank, const char* role) const;
  // Counts the operation and hands it to `backend` (the group's when null;
  // skipped for a single member); `finish` turns the buffers into the result
  // once it completed. `device`: where the caller's tensors live.
  PendingOp start(CommOp op, std::string what, int64_t bytes_sent, int64_t bytes_received,
                  at::Device device, const Issue& issue, std::function<at::Tensor()> finish,
                  XDIT_C10D_BACKEND* backend = nullptr);
  // Whether tensors cross through host copies (a staged link with peers).
  bool host_staged() const;
  // Where the backend takes tensors like `like` (its own device without peers).
  at::Device wire_device(const at::Tensor& like) const;
  // The tensor as the backend takes it: contiguous, on wire_device; a copy
  // when it crosses devices or the link is host-staged (then it never
  // aliases `tensor`).
  at::Tensor wire(const at::Tensor& tensor) const;
  // A buffer the backend may write, shaped and typed as `like`, on the wire's device.
  at::Tensor wire_buffer(at::IntArrayRef sizes, const at::Tensor& like) const;
  // The backend for a point-to-point message with the member at `peer_index`.
  XDIT_C10D_BACKEND* point_to_point_backend(int peer_index, bool sending) const;
  at::Tensor complete(PendingOp::State& state);
  PendingOp start_all_gather(const at::Tensor& tensor,
                             std::function<at::Tensor(const at::Tensor&)> arrange);
  [[noreturn]] void fail(CommOp op, const std::string& what, std::exception_ptr error,
                         std::chrono::steady_clock::duration waited);
  std::string context(CommOp op, const std::string& what) const;

  std::string name_;
  std::vector<int> ranks_;
  int rank_;
  int index_;
  std::shared_ptr<Channel> channel_;
  std::chrono::milliseconds timeout_;
  CommStats& stats_;
};

}  // namespace xdit::parallel
