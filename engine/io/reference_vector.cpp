#include "io/reference_vector.hpp"

#include "core/error.hpp"

namespace xdit::io {
namespace {

const std::string& metadata_entry(const std::map<std::string, std::string>& metadata,
                                  const std::string& key, const std::filesystem::path& path) {
  const auto it = metadata.find(key);
  if (it == metadata.end()) {
    throw FileError(path.string(), "__metadata__ has no '" + key + "': not a reference vector?");
  }
  return it->second;
}

}  // namespace

ReferenceVector::ReferenceVector(const std::filesystem::path& path)
    : path_(path),
      file_(SafetensorsWeights::open_file(path)),
      class_name_(metadata_entry(file_->metadata(), "class", path)),
      config_(parse_json(metadata_entry(file_->metadata(), "config", path),
                         path.string() + " (__metadata__ config)"),
              path.string() + " (__metadata__ config)") {
  const auto it = file_->metadata().find("tolerance");
  if (it != file_->metadata().end()) {
    try {
      tolerance_ = std::stod(it->second);
    } catch (const std::exception&) {
      throw FileError(path.string(), "__metadata__ tolerance '" + it->second + "' is not a number");
    }
  }
}

std::string ReferenceVector::case_name() const {
  const auto it = metadata().find("case");
  return it != metadata().end() ? it->second : path_.stem().string();
}

const std::map<std::string, std::string>& ReferenceVector::metadata() const {
  return file_->metadata();
}

Weights ReferenceVector::weights(at::ScalarType dtype) const { return Weights(file_, dtype, "w."); }

at::Tensor ReferenceVector::tensor(const std::string& key) const {
  if (!file_->contains(key)) throw FileError(path_.string(), "has no tensor '" + key + "'");
  return file_->load(key);
}

bool ReferenceVector::has_input(const std::string& name) const {
  return file_->contains("in." + name);
}

at::Tensor ReferenceVector::input(const std::string& name) const { return tensor("in." + name); }
at::Tensor ReferenceVector::aux(const std::string& name) const { return tensor("aux." + name); }
at::Tensor ReferenceVector::output(const std::string& name) const { return tensor("out." + name); }

std::vector<std::string> ReferenceVector::output_names() const {
  std::vector<std::string> names;
  for (const auto& key : file_->keys()) {
    if (key.rfind("out.", 0) == 0) names.push_back(key.substr(4));
  }
  return names;
}

}  // namespace xdit::io
