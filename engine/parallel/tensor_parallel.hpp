#pragma once
// Tensor parallel on a process group: the models' PartialSums as the tensor
// group's all-reduce, and the shard of the model a rank holds.

#include "models/tensor_shard.hpp"
#include "parallel/communicator.hpp"

namespace xdit::parallel {

class GroupPartialSums final : public models::PartialSums {
 public:
  // `group` must outlive this.
  explicit GroupPartialSums(Group& group) : group_(group) {}
  void sum_(at::Tensor& partial) override { group_.all_reduce_sum_(partial); }

 private:
  Group& group_;
};

// The shard of the heads and feed-forward width that this rank of `mesh`
// holds; `sums` completes the partial sums across the tensor group.
models::TensorShard tensor_shard(const Mesh& mesh, GroupPartialSums& sums);

}  // namespace xdit::parallel
