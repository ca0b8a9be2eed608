#include "parallel/tensor_parallel.hpp"

namespace xdit::parallel {

models::TensorShard tensor_shard(const Mesh& mesh, GroupPartialSums& sums) {
  return {mesh.coord(Dim::kTensor), mesh.degree(Dim::kTensor), &sums};
}

}  // namespace xdit::parallel
