#include "io/weight_source.hpp"

#include <ATen/ATen.h>

#include <algorithm>

#include "core/error.hpp"
#include "io/config.hpp"
#include "io/safetensors_file.hpp"

namespace xdit::io {
namespace {

std::string format_shape(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

}  // namespace

at::Tensor WeightSource::load_slice(const std::string& key, int64_t dim, int64_t start,
                                    int64_t length) const {
  return load(key).narrow(dim, start, length);
}

std::shared_ptr<SafetensorsWeights> SafetensorsWeights::open_file(
    const std::filesystem::path& path) {
  std::shared_ptr<SafetensorsWeights> weights(new SafetensorsWeights());
  weights->files_.push_back(std::make_shared<SafetensorsFile>(path));
  for (const auto& info : weights->files_[0]->tensors())
    weights->key_to_file_[info.name] = 0;
  weights->description_ = path.string();
  return weights;
}

std::shared_ptr<SafetensorsWeights> SafetensorsWeights::open_index(
    const std::filesystem::path& index) {
  const Config config = Config::from_file(index);
  if (!config.has("weight_map") || !config.json().at("weight_map").is_object()) {
    config.fail("weight_map", "is missing or not an object of key -> shard file");
  }
  if (config.json().at("weight_map").empty())
    config.fail("weight_map", "lists no tensors");
  std::shared_ptr<SafetensorsWeights> weights(new SafetensorsWeights());
  weights->description_ = index.string();
  std::map<std::string, size_t> shard_numbers;
  for (const auto& [key, shard] : config.json().at("weight_map").items()) {
    if (!shard.is_string())
      config.fail("weight_map." + key, "is not a file name");
    const std::filesystem::path shard_name = shard.get<std::string>();
    // Shards live beside the index; a path leading elsewhere is a broken
    // or hostile index.
    if (shard_name.empty() || shard_name.is_absolute() ||
        std::find(shard_name.begin(), shard_name.end(), "..") != shard_name.end()) {
      config.fail("weight_map." + key,
                  "names '" + shard_name.string() + "', which is not a file beside the index");
    }
    auto [it, inserted] = shard_numbers.try_emplace(shard_name.string(), weights->files_.size());
    if (inserted) {
      const auto shard_path = index.parent_path() / shard_name;
      if (!std::filesystem::exists(shard_path)) {
        throw FileError(shard_path.string(), "is missing, but " + index.string() +
                                                 " lists it as a shard (incomplete download?)");
      }
      weights->files_.push_back(std::make_shared<SafetensorsFile>(shard_path));
    }
    const SafetensorsFile& file = *weights->files_[it->second];
    if (!file.contains(key)) {
      throw FileError(file.path().string(),
                      "has no tensor '" + key + "', which " + index.string() + " places there");
    }
    weights->key_to_file_[key] = it->second;
  }
  // diffusers and transformers load every tensor of every shard, whether the
  // index names it or not; so do we, so that a stray tensor is reported as
  // unexpected rather than silently ignored.
  for (size_t i = 0; i < weights->files_.size(); ++i) {
    for (const auto& info : weights->files_[i]->tensors()) {
      const auto [it, inserted] = weights->key_to_file_.try_emplace(info.name, i);
      if (!inserted && it->second != i) {
        throw FileError(weights->files_[i]->path().string(),
                        "holds tensor '" + info.name + "', which " + index.string() +
                            " places in " + weights->files_[it->second]->path().string());
      }
    }
  }
  return weights;
}

std::shared_ptr<SafetensorsWeights> SafetensorsWeights::open(const std::filesystem::path& path) {
  const std::string name = path.filename().string();
  const bool is_index = name.size() > 5 && name.compare(name.size() - 5, 5, ".json") == 0;
  return is_index ? open_index(path) : open_file(path);
}

std::vector<std::string> SafetensorsWeights::keys() const {
  std::vector<std::string> keys;
  for (const auto& [key, file] : key_to_file_)
    keys.push_back(key);
  return keys;
}

bool SafetensorsWeights::contains(const std::string& key) const {
  return key_to_file_.count(key) != 0;
}

const SafetensorsFile& SafetensorsWeights::file_of(const std::string& key) const {
  const auto it = key_to_file_.find(key);
  if (it == key_to_file_.end())
    throw WeightError(description_ + ": no tensor '" + key + "'");
  return *files_[it->second];
}

std::vector<int64_t> SafetensorsWeights::shape(const std::string& key) const {
  return file_of(key).find(key)->shape;
}

at::Tensor SafetensorsWeights::load(const std::string& key) const {
  return file_of(key).tensor(key);
}

at::Tensor SafetensorsWeights::load_slice(const std::string& key, int64_t dim, int64_t start,
                                          int64_t length) const {
  return file_of(key).slice(key, dim, start, length);
}

std::string SafetensorsWeights::location(const std::string& key) const {
  return file_of(key).path().string();
}

const std::map<std::string, std::string>& SafetensorsWeights::metadata() const {
  return files_.front()->metadata();
}

TensorMapWeights::TensorMapWeights(std::map<std::string, at::Tensor> tensors,
                                   std::string description)
    : tensors_(std::move(tensors)), description_(std::move(description)) {}

std::vector<std::string> TensorMapWeights::keys() const {
  std::vector<std::string> keys;
  for (const auto& [key, tensor] : tensors_)
    keys.push_back(key);
  return keys;
}

bool TensorMapWeights::contains(const std::string& key) const {
  return tensors_.count(key) != 0;
}

std::vector<int64_t> TensorMapWeights::shape(const std::string& key) const {
  return load(key).sizes().vec();
}

at::Tensor TensorMapWeights::load(const std::string& key) const {
  const auto it = tensors_.find(key);
  if (it == tensors_.end())
    throw WeightError(description_ + ": no tensor '" + key + "'");
  return it->second;
}

Weights::Weights(std::shared_ptr<const WeightSource> source, at::ScalarType dtype,
                 std::string prefix)
    : source_(std::move(source)),
      dtype_(dtype),
      prefix_(std::move(prefix)),
      used_(std::make_shared<std::set<std::string>>()),
      handed_out_(std::make_shared<int64_t>(0)) {}

Weights Weights::sub(std::string_view name) const {
  Weights child = *this;
  child.prefix_ = key(name) + ".";
  return child;
}

Weights Weights::to(at::Device device) const {
  Weights moved = *this;
  moved.device_ = device;
  return moved;
}

std::string Weights::key(std::string_view name) const {
  return prefix_ + std::string(name);
}

bool Weights::contains(std::string_view name) const {
  return source_->contains(key(name));
}

void Weights::check(const std::string& full_key, const std::vector<int64_t>& shape) const {
  source_->prepare(full_key, shape);
  if (!source_->contains(full_key)) {
    throw WeightError(source_->describe() + ": missing tensor '" + full_key + "' (expected shape " +
                      format_shape(shape) + ")");
  }
  const auto found = source_->shape(full_key);
  if (found != shape) {
    throw WeightError(source_->location(full_key) + ": tensor '" + full_key + "' has shape " +
                      format_shape(found) + ", the model's config expects " + format_shape(shape));
  }
  used_->insert(full_key);
}

at::Tensor Weights::get(std::string_view name, const std::vector<int64_t>& shape) const {
  const std::string full_key = key(name);
  check(full_key, shape);
  at::Tensor tensor = source_->load(full_key).to(device_, dtype_);
  *handed_out_ += static_cast<int64_t>(tensor.nbytes());
  return tensor;
}

std::optional<at::Tensor> Weights::get_optional(std::string_view name,
                                                const std::vector<int64_t>& shape) const {
  if (!contains(name))
    return std::nullopt;
  return get(name, shape);
}

at::Tensor Weights::get_shard(std::string_view name, const std::vector<int64_t>& shape, int64_t dim,
                              int64_t index, int64_t count) const {
  const auto rank = static_cast<int64_t>(shape.size());
  if (dim < 0 || dim >= rank || count < 1 || index < 0 || index >= count) {
    throw WeightError("tensor '" + key(name) + "' of shape " + format_shape(shape) +
                      ": cannot take shard " + std::to_string(index) + " of " +
                      std::to_string(count) + " along dimension " + std::to_string(dim));
  }
  if (shape[dim] % count != 0) {
    throw WeightError("tensor '" + key(name) + "': dimension " + std::to_string(dim) + " of size " +
                      std::to_string(shape[dim]) + " cannot be split into " +
                      std::to_string(count) + " equal shards");
  }
  const int64_t size = shape[dim] / count;
  return get_slice(name, shape, dim, index * size, size);
}

at::Tensor Weights::get_slice(std::string_view name, const std::vector<int64_t>& shape, int64_t dim,
                              int64_t start, int64_t length) const {
  const std::string full_key = key(name);
  const auto rank = static_cast<int64_t>(shape.size());
  if (dim < 0 || dim >= rank || start < 0 || length < 1 || start + length > shape[dim]) {
    throw WeightError("tensor '" + full_key + "' of shape " + format_shape(shape) +
                      ": cannot take entries [" + std::to_string(start) + ", " +
                      std::to_string(start + length) + ") of dimension " + std::to_string(dim));
  }
  check(full_key, shape);
  // A slice of dimension 0 may stay a view of the source; `contiguous` and
  // `to` copy no more than the slice.
  at::Tensor slice =
      source_->load_slice(full_key, dim, start, length).contiguous().to(device_, dtype_);
  *handed_out_ += static_cast<int64_t>(slice.nbytes());
  return slice;
}

void Weights::skip(std::string_view name) const {
  const std::string head = key(name);
  for (const auto& k : source_->keys()) {
    if (k == head || k.rfind(head + ".", 0) == 0)
      used_->insert(k);
  }
}

void Weights::expect_all_used() const {
  std::vector<std::string> unexpected;
  for (const auto& k : source_->keys()) {
    if (k.rfind(prefix_, 0) == 0 && used_->count(k) == 0)
      unexpected.push_back(k);
  }
  if (unexpected.empty())
    return;
  std::string list;
  for (size_t i = 0; i < unexpected.size() && i < 8; ++i)
    list += "\n  " + unexpected[i];
  if (unexpected.size() > 8)
    list += "\n  ... and " + std::to_string(unexpected.size() - 8) + " more";
  throw WeightError(
      source_->describe() + ": " + std::to_string(unexpected.size()) +
      " unexpected tensor(s) that the model built from its config does not use:" + list);
}

}  // namespace xdit::io
