// Tensor-parallel ranks load slices of a memory-mapped checkpoint: a slice
// must cost the process about its own size, not the whole tensor's pages.

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <optional>

#include "io/safetensors_writer.hpp"
#include "io/weight_source.hpp"
#include "temp_folder.hpp"

namespace xdit::io {
namespace {

using xdit::testing::TempFolder;

// Resident bytes of this process, or nothing without /proc.
std::optional<int64_t> resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t total_pages = 0;
  int64_t resident_pages = 0;
  if (!(statm >> total_pages >> resident_pages))
    return std::nullopt;
  return resident_pages * ::sysconf(_SC_PAGESIZE);
}

TEST(WeightShardMemory, ColumnShardCostsHalfTheTensor) {
  if (!resident_bytes())
    GTEST_SKIP() << "/proc/self/statm is unavailable";
  TempFolder folder;
  const std::vector<int64_t> shape = {1024, 2048};  // 8 MiB of float32
  const int64_t tensor_bytes = shape[0] * shape[1] * 4;
  {
    write_safetensors(folder / "w.safetensors",
                      {{"proj.weight", at::arange(shape[0] * shape[1], at::kFloat).view(shape)}});
  }
  const Weights weights(SafetensorsWeights::open_file(folder / "w.safetensors"), at::kFloat);

  const int64_t before = *resident_bytes();
  const at::Tensor shard = weights.get_shard("proj.weight", shape, 1, 1, 2);
  const int64_t growth = *resident_bytes() - before;

  // The shard's own copy is at most half the tensor (less if the allocator
  // reuses memory already resident); through the mapping, the whole tensor's
  // pages would come on top of it.
  EXPECT_LT(growth, tensor_bytes * 7 / 10) << "resident set grew by " << growth << " bytes";
  const at::Tensor whole = at::arange(shape[0] * shape[1], at::kFloat).view(shape);
  EXPECT_TRUE(at::equal(shard, whole.narrow(1, shape[1] / 2, shape[1] / 2)));
}

// Slices along every dimension, with rows smaller and larger than any read
// buffer, misaligned data and a dtype conversion, equal the narrowed whole.
TEST(WeightShardMemory, ShardsAlongEveryDimensionMatchTheWhole) {
  TempFolder folder;
  const at::Tensor small = at::arange(4 * 6 * 10, at::kFloat).view({4, 6, 10});
  const at::Tensor wide = at::arange(2 * 4 * 200000, at::kFloat).view({2, 4, 200000});
  const at::Tensor tall = at::arange(40000 * 4, at::kFloat).view({40000, 4}).to(at::kBFloat16);
  // One byte first, so the float tensors after it are misaligned in the file.
  write_safetensors(
      folder / "w.safetensors",
      {{"pad", at::zeros({1}, at::kByte)}, {"small", small}, {"wide", wide}, {"tall", tall}});
  const Weights weights(SafetensorsWeights::open_file(folder / "w.safetensors"), at::kFloat);
  for (const auto& [name, whole] :
       {std::pair{"small", small}, std::pair{"wide", wide}, std::pair{"tall", tall}}) {
    for (int64_t dim = 0; dim < whole.dim(); ++dim) {
      for (const int64_t count : {1, 2}) {
        for (int64_t index = 0; index < count; ++index) {
          const int64_t size = whole.size(dim) / count;
          const at::Tensor shard = weights.get_shard(name, whole.sizes().vec(), dim, index, count);
          EXPECT_EQ(shard.scalar_type(), at::kFloat);
          EXPECT_TRUE(shard.is_contiguous());
          EXPECT_TRUE(at::equal(shard, whole.narrow(dim, index * size, size).to(at::kFloat)))
              << name << " dim " << dim << " shard " << index << " of " << count;
        }
      }
    }
  }
}

}  // namespace
}  // namespace xdit::io
