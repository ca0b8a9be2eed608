#pragma once
// Where model weights come from. A model asks for tensors by their diffusers
// state_dict key through a `Weights` view; the view checks shapes, converts
// the dtype and remembers which keys were used, so that after a model is built
// any key of the checkpoint that nothing asked for is reported, as is every
// missing key and every wrong shape, with the file that holds it.

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace xdit::io {

class SafetensorsFile;

class WeightSource {
 public:
  virtual ~WeightSource() = default;
  virtual std::vector<std::string> keys() const = 0;
  virtual bool contains(const std::string& key) const = 0;
  virtual std::vector<int64_t> shape(const std::string& key) const = 0;
  // The tensor as stored (any dtype), ideally without copying.
  virtual at::Tensor load(const std::string& key) const = 0;
  // The slice [start, start + length) of dimension `dim` (in range), as
  // stored. Memory-mapped sources read it without making the rest of the
  // tensor resident.
  virtual at::Tensor load_slice(const std::string& key, int64_t dim, int64_t start,
                                int64_t length) const;
  // Where the key lives, for messages (a file path).
  virtual std::string location(const std::string& key) const = 0;
  // Names the whole source in messages.
  virtual std::string describe() const = 0;
  // Called with every tensor a model asks for, before the request is checked.
  // Stored sources do nothing; a source that makes tensors instead (random
  // weights for the built-in model and benchmarks) creates `key` here with the
  // shape the model expects, so no list of keys has to be kept beside a model.
  virtual void prepare(const std::string& /*key*/, const std::vector<int64_t>& /*shape*/) const {}
};

// One safetensors file or a sharded set of them.
class SafetensorsWeights final : public WeightSource {
 public:
  static std::shared_ptr<SafetensorsWeights> open_file(const std::filesystem::path& path);
  // A `*.safetensors.index.json` ("weight_map": key -> shard file beside it).
  // Every tensor of every shard is a key, as in diffusers. Throws FileError
  // naming a missing shard, or a shard that lacks a key the index puts there.
  static std::shared_ptr<SafetensorsWeights> open_index(const std::filesystem::path& index);
  // open_index for a `.json` path, open_file otherwise.
  static std::shared_ptr<SafetensorsWeights> open(const std::filesystem::path& path);

  std::vector<std::string> keys() const override;
  bool contains(const std::string& key) const override;
  std::vector<int64_t> shape(const std::string& key) const override;
  at::Tensor load(const std::string& key) const override;
  at::Tensor load_slice(const std::string& key, int64_t dim, int64_t start,
                        int64_t length) const override;
  std::string location(const std::string& key) const override;
  std::string describe() const override { return description_; }

  // The first file's __metadata__ (reference vectors keep their config there).
  const std::map<std::string, std::string>& metadata() const;

 private:
  SafetensorsWeights() = default;
  const SafetensorsFile& file_of(const std::string& key) const;

  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, size_t> key_to_file_;
  std::string description_;
};

// Tensors held in memory (the built-in model, tests).
class TensorMapWeights final : public WeightSource {
 public:
  TensorMapWeights(std::map<std::string, at::Tensor> tensors, std::string description);
  std::vector<std::string> keys() const override;
  bool contains(const std::string& key) const override;
  std::vector<int64_t> shape(const std::string& key) const override;
  at::Tensor load(const std::string& key) const override;
  std::string location(const std::string&) const override { return description_; }
  std::string describe() const override { return description_; }

 private:
  std::map<std::string, at::Tensor> tensors_;
  std::string description_;
};

// A model's view of a source: a key prefix, the dtype the model computes in
// and a record of the keys used, shared by all views derived from one root.
class Weights {
 public:
  Weights(std::shared_ptr<const WeightSource> source, at::ScalarType dtype,
          std::string prefix = "");

  // A view of the sub-module `name` ("transformer_blocks.3", "attn1").
  Weights sub(std::string_view name) const;
  // This view, handing tensors out on `device` (each copied there straight
  // from the source's mapping: no whole host copy is made on the way).
  Weights to(at::Device device) const;

  // The tensor `name` under this view, checked against `shape`, in the
  // model's dtype. Throws WeightError naming file, key, expected and found.
  at::Tensor get(std::string_view name, const std::vector<int64_t>& shape) const;
  // The same for a tensor that a model variant may lack (e.g. a bias).
  std::optional<at::Tensor> get_optional(std::string_view name,
                                         const std::vector<int64_t>& shape) const;
  // A slice [index * size/count, (index+1) * size/count) of `dim`, loading no
  // more than that slice when the source is memory-mapped (tensor parallel).
  at::Tensor get_shard(std::string_view name, const std::vector<int64_t>& shape, int64_t dim,
                       int64_t index, int64_t count) const;
  // Entries [start, start + length) of `dim`, loaded the same way: a shard
  // of one part of a tensor that joins several (Flux's [attention | MLP]).
  at::Tensor get_slice(std::string_view name, const std::vector<int64_t>& shape, int64_t dim,
                       int64_t start, int64_t length) const;

  bool contains(std::string_view name) const;
  at::ScalarType dtype() const { return dtype_; }
  at::Device device() const { return device_; }
  const std::string& prefix() const { return prefix_; }
  const WeightSource& source() const { return *source_; }

  // Throws WeightError listing the keys under this view's prefix that were
  // never asked for (an unexpected key means the config does not fit).
  void expect_all_used() const;
  // Marks keys under `name` as deliberately unused (a stage or shard skips them).
  void skip(std::string_view name) const;
  // Bytes of the tensors get, get_optional and get_shard have returned
  // through the views of this root, in the model's dtype: what a model built
  // from them holds is the growth across its construction.
  int64_t bytes_handed_out() const { return *handed_out_; }

 private:
  std::string key(std::string_view name) const;
  // Checks that `key` exists with `shape` and marks it used.
  void check(const std::string& key, const std::vector<int64_t>& shape) const;

  std::shared_ptr<const WeightSource> source_;
  at::ScalarType dtype_;
  at::Device device_ = at::kCPU;
  std::string prefix_;
  std::shared_ptr<std::set<std::string>> used_;
  std::shared_ptr<int64_t> handed_out_;
};

}  // namespace xdit::io
