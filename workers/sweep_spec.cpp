#include "workers/sweep_spec.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "core/error.hpp"
#include "io/config.hpp"

namespace xdit::workers {
namespace {

// The flags that say how a generation is spread, not what it makes: a
// row without them is its serial twin.
const std::set<std::string>& parallel_flags() {
  static const std::set<std::string> flags = {"--nproc",
                                              "--threads",
                                              "--gpus",
                                              "--comm",
                                              "--data_parallel_degree",
                                              "--use_cfg_parallel",
                                              "--ulysses_degree",
                                              "--ring_degree",
                                              "--tensor_parallel_degree",
                                              "--pipefusion_parallel_degree",
                                              "--attn_layer_num_for_pp",
                                              "--num_pipeline_patch",
                                              "--distrifusion_degree",
                                              "--use_parallel_vae",
                                              "--warmup_steps"};
  return flags;
}

std::string flag_name(const std::string& word) {
  return word.substr(0, word.find('='));
}

bool has_flag(const std::vector<std::string>& words, const std::string& flag) {
  return std::any_of(words.begin(), words.end(),
                     [&](const std::string& w) { return flag_name(w) == flag; });
}

// `words` without the parallel flags and their values (the words up to the
// next flag: --attn_layer_num_for_pp takes several).
std::vector<std::string> without_parallel_flags(const std::vector<std::string>& words) {
  std::vector<std::string> out;
  bool skipping = false;
  for (const std::string& word : words) {
    if (word.rfind("--", 0) == 0) {
      skipping = parallel_flags().count(flag_name(word)) > 0;
      if (skipping)
        continue;
    } else if (skipping) {
      continue;
    }
    out.push_back(word);
  }
  return out;
}

bool needs_quotes(const std::string& word) {
  return word.empty() || word.find_first_of(" \t\n'\"\\$`*?[]#~;&|<>(){}!") != std::string::npos;
}

template <typename T>
std::vector<T> list_of(const nlohmann::json& json, const char* key, const std::string& source,
                       std::vector<T> fallback) {
  if (!json.contains(key))
    return fallback;
  const nlohmann::json& value = json.at(key);
  try {
    if (value.is_array())
      return value.get<std::vector<T>>();
    return {value.get<T>()};
  } catch (const nlohmann::json::exception&) {
    throw ConfigError(source, key, "expected a value or a list of values");
  }
}

template <typename T>
T value_of(const nlohmann::json& json, const char* key, const std::string& source, T fallback) {
  if (!json.contains(key))
    return fallback;
  try {
    return json.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    throw ConfigError(source, key, "has the wrong type");
  }
}

// "512x768" → height 512, width 768.
std::pair<std::string, std::string> size_of(const std::string& size) {
  const size_t x = size.find('x');
  const auto digits = [](const std::string& s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (x == std::string::npos || !digits(size.substr(0, x)) || !digits(size.substr(x + 1)))
    throw UsageError("sweep size '" + size + "' is not HEIGHTxWIDTH (e.g. 512x768)");
  return {size.substr(0, x), size.substr(x + 1)};
}

// One optional axis value: `values` or, when it is empty, no value.
template <typename T>
std::vector<std::optional<T>> axis(const std::vector<T>& values) {
  if (values.empty())
    return {std::nullopt};
  return {values.begin(), values.end()};
}

}  // namespace

std::vector<std::string> split_command_line(const std::string& line) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quote == '\'') {
      if (c == '\'')
        quote = 0;
      else
        word += c;
    } else if (quote == '"') {
      if (c == '"') {
        quote = 0;
      } else if (c == '\\' && i + 1 < line.size() &&
                 std::string("\"\\$`").find(line[i + 1]) != std::string::npos) {
        word += line[++i];
      } else {
        word += c;
      }
    } else if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else if (c == '\\' && i + 1 < line.size()) {
      word += line[++i];
      in_word = true;
    } else if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word)
        words.push_back(word);
      word.clear();
      in_word = false;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (quote)
    throw UsageError("unclosed " + std::string(1, quote) + " quote in: " + line);
  if (in_word)
    words.push_back(word);
  return words;
}

std::string join_command_line(const std::vector<std::string>& words) {
  std::string line;
  for (const std::string& word : words) {
    if (!line.empty())
      line += ' ';
    if (!needs_quotes(word)) {
      line += word;
      continue;
    }
    line += '\'';
    for (char c : word)
      line += c == '\'' ? std::string("'\\''") : std::string(1, c);
    line += '\'';
  }
  return line;
}

bool SweepRow::stale() const {
  const auto& p = settings.group.parallel;
  return p.pipefusion_degree > 1 || p.distrifusion_degree > 1;
}

SweepRow parse_sweep_row(const std::string& flags) {
  SweepRow row;
  CLI::App app("xdit generate");
  add_generate_flags(app, row.settings);
  app.add_option("--nproc", row.nproc);
  app.add_option("--threads", row.threads);
  app.add_option("--gpus", row.gpus);
  std::vector<std::string> words = split_command_line(flags);
  row.flags = join_command_line(words);
  std::reverse(words.begin(), words.end());  // CLI11 takes them last first
  try {
    app.parse(words);
  } catch (const CLI::ParseError& e) {
    throw UsageError("sweep configuration '" + flags + "': " + e.what());
  }
  if (row.nproc < 1)
    throw UsageError("sweep configuration '" + flags + "': --nproc must be at least 1");
  finish_settings(row.settings);
  row.settings.group.world_size = row.nproc;
  row.settings.group.gpus = row.gpus;
  return row;
}

SweepSpec sweep_spec_from_json(const nlohmann::json& json, const std::string& source) {
  if (!json.is_object())
    throw ConfigError(source, "", "a sweep is a JSON object (docs/sweeps.md)");
  static const std::set<std::string> known = {"title",        "models",      "sizes",   "steps",
                                              "warmup_steps", "devices",     "configs", "prompt",
                                              "seed",         "warmup_runs", "repeats"};
  for (const auto& item : json.items()) {
    if (!known.count(item.key()))
      throw ConfigError(source, item.key(), "is not a sweep key (docs/sweeps.md)");
  }
  SweepSpec spec;
  spec.title = value_of(json, "title", source, spec.title);
  spec.models = list_of(json, "models", source, spec.models);
  spec.sizes = list_of(json, "sizes", source, spec.sizes);
  spec.steps = list_of(json, "steps", source, spec.steps);
  spec.warmup_steps = list_of(json, "warmup_steps", source, spec.warmup_steps);
  spec.devices = list_of(json, "devices", source, spec.devices);
  spec.configs = list_of(json, "configs", source, spec.configs);
  spec.prompt = value_of(json, "prompt", source, spec.prompt);
  spec.seed = value_of(json, "seed", source, spec.seed);
  spec.warmup_runs = value_of(json, "warmup_runs", source, spec.warmup_runs);
  spec.repeats = value_of(json, "repeats", source, spec.repeats);
  if (spec.models.empty())
    throw ConfigError(source, "models", "names no model");
  if (spec.configs.empty())
    throw ConfigError(source, "configs", "names no configuration");
  if (spec.repeats < 1)
    throw ConfigError(source, "repeats", "must be at least 1");
  if (spec.warmup_runs < 0)
    throw ConfigError(source, "warmup_runs", "must not be negative");
  for (const std::string& size : spec.sizes) {
    try {
      size_of(size);
    } catch (const UsageError& e) {
      throw ConfigError(source, "sizes", e.what());
    }
  }
  return spec;
}

SweepSpec read_sweep_file(const std::filesystem::path& path) {
  return sweep_spec_from_json(io::read_json_file(path), path.string());
}

nlohmann::ordered_json to_json(const SweepSpec& spec) {
  return {{"title", spec.title},
          {"models", spec.models},
          {"sizes", spec.sizes},
          {"steps", spec.steps},
          {"warmup_steps", spec.warmup_steps},
          {"devices", spec.devices},
          {"configs", spec.configs},
          {"prompt", spec.prompt},
          {"seed", spec.seed},
          {"warmup_runs", spec.warmup_runs},
          {"repeats", spec.repeats}};
}

std::vector<SweepRow> expand_sweep(const SweepSpec& spec) {
  // The grid first, then each parallel row's serial twin.
  std::vector<SweepRow> grid;
  for (const std::string& model : spec.models) {
    for (const auto& size : axis(spec.sizes)) {
      for (const auto& steps : axis(spec.steps)) {
        for (const auto& device : axis(spec.devices)) {
          for (const std::string& config : spec.configs) {
            const std::vector<std::string> own = split_command_line(config);
            std::vector<std::string> words;
            const auto add = [&](const std::string& flag, const std::string& value) {
              if (!has_flag(own, flag))
                words.insert(words.end(), {flag, value});
            };
            add("--model", model);
            if (size) {
              const auto [height, width] = size_of(*size);
              add("--height", height);
              add("--width", width);
            }
            if (steps)
              add("--num_inference_steps", std::to_string(*steps));
            if (device)
              add("--device", *device);
            words.insert(words.end(), own.begin(), own.end());
            add("--prompt", spec.prompt);
            add("--seed", std::to_string(spec.seed));
            const SweepRow row = parse_sweep_row(join_command_line(words));
            if (!row.stale() || spec.warmup_steps.empty() || has_flag(own, "--warmup_steps")) {
              grid.push_back(row);
              continue;
            }
            for (int warmup : spec.warmup_steps) {
              std::vector<std::string> with = words;
              with.insert(with.end(), {"--warmup_steps", std::to_string(warmup)});
              grid.push_back(parse_sweep_row(join_command_line(with)));
            }
          }
        }
      }
    }
  }

  // A serial row is its own reference; a parallel row's is the serial row
  // of the same flags without the parallel ones.
  const auto serial_key = [](const SweepRow& row) {
    return join_command_line(without_parallel_flags(split_command_line(row.flags)));
  };
  std::map<std::string, std::string> reference_of;  // serial key → the serial row's flags
  for (const SweepRow& row : grid) {
    if (row.serial() && row.threads == 0 && !reference_of.count(serial_key(row)))
      reference_of[serial_key(row)] = row.flags;
  }
  std::vector<SweepRow> rows;
  std::set<std::string> seen;
  const auto emit = [&](SweepRow row) {
    if (seen.insert(row.flags).second)
      rows.push_back(std::move(row));
  };
  for (SweepRow& row : grid) {
    const std::string key = serial_key(row);
    auto found = reference_of.find(key);
    if (found == reference_of.end()) {
      std::vector<std::string> words = split_command_line(key);
      words.insert(words.end(), {"--nproc", "1"});
      SweepRow reference = parse_sweep_row(join_command_line(words));
      reference.reference_flags = reference.flags;
      found = reference_of.emplace(key, reference.flags).first;
      emit(std::move(reference));
    } else if (!seen.count(found->second) && found->second != row.flags) {
      // The grid's own serial row comes later: run it first.
      const auto twin = std::find_if(grid.begin(), grid.end(),
                                     [&](const SweepRow& r) { return r.flags == found->second; });
      SweepRow reference = *twin;
      reference.reference_flags = reference.flags;
      emit(std::move(reference));
    }
    row.reference_flags = found->second;
    emit(std::move(row));
  }
  return rows;
}

}  // namespace xdit::workers
