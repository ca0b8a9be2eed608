#include "schedulers/scheduler_config.hpp"

#include <algorithm>

namespace xdit::schedulers {

SchedulerConfig::SchedulerConfig(io::Config config) : config_(std::move(config)) {
  defaulted_keys_ = config_.get_or<std::vector<std::string>>("_use_default_values", {});
}

bool SchedulerConfig::uses_default(std::string_view key) const {
  return std::find(defaulted_keys_.begin(), defaulted_keys_.end(), key) != defaulted_keys_.end();
}

std::string SchedulerConfig::get_choice(std::string_view key, const std::string& fallback,
                                        std::initializer_list<std::string_view> allowed) const {
  std::string value = get_or<std::string>(key, fallback);
  if (std::find(allowed.begin(), allowed.end(), value) != allowed.end())
    return value;
  std::string names;
  for (const auto name : allowed)
    names += (names.empty() ? "'" : ", '") + std::string(name) + "'";
  fail(key, "is '" + value + "', which is not supported (supported: " + names + ")");
}

void SchedulerConfig::require_false(std::string_view key, const std::string& why) const {
  if (get_or<bool>(key, false))
    fail(key, "is true, which is not supported: " + why);
}

void SchedulerConfig::fail(std::string_view key, const std::string& what) const {
  config_.fail(key, what);
}

}  // namespace xdit::schedulers
