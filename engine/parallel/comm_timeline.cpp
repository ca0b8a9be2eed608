#include "parallel/comm_timeline.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "io/config.hpp"

namespace xdit::parallel {
namespace {

CommOp op_from_name(const std::string& name, const std::string& source) {
  for (int i = 0; i < kCommOpCount; ++i) {
    if (op_name(static_cast<CommOp>(i)) == name)
      return static_cast<CommOp>(i);
  }
  throw ConfigError(source, "op", "'" + name + "' is not a communication operation");
}

}  // namespace

double StepTimeline::wait_seconds() const {
  double sum = 0;
  for (const CommInterval& w : waits)
    sum += w.end - w.start;
  return sum;
}

nlohmann::json to_json(const StepTimeline& timeline) {
  nlohmann::json waits = nlohmann::json::array();
  for (const CommInterval& w : timeline.waits)
    waits.push_back({{"op", op_name(w.op)}, {"start", w.start}, {"end", w.end}});
  return {{"step", timeline.step}, {"seconds", timeline.seconds}, {"waits", waits}};
}

StepTimeline step_timeline_from_json(const nlohmann::json& json, const std::string& source) {
  const io::Config c(json, source);
  StepTimeline timeline;
  timeline.step = c.get_or<int64_t>("step", 0);
  timeline.seconds = c.get_or<double>("seconds", 0.0);
  if (!c.has("waits"))
    return timeline;
  const nlohmann::json& waits = c.json().at("waits");
  if (!waits.is_array())
    throw ConfigError(source, "waits", "is not a list");
  for (size_t i = 0; i < waits.size(); ++i) {
    const io::Config w(waits[i], source + ":waits[" + std::to_string(i) + "]");
    timeline.waits.push_back({op_from_name(w.get<std::string>("op"), w.source()),
                              w.get<double>("start"), w.get<double>("end")});
  }
  return timeline;
}

void CommTimeline::add(CommOp op, Clock::time_point begin, Clock::time_point end) {
  waits_.push_back({op, begin, end});
}

StepTimeline CommTimeline::cut(int64_t step, Clock::time_point end, double seconds) const {
  StepTimeline out;
  out.step = step;
  out.seconds = seconds;
  const Clock::time_point start =
      end - std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  const auto since_start = [&](Clock::time_point t) {
    return std::chrono::duration<double>(std::clamp(t, start, end) - start).count();
  };
  for (const Wait& w : waits_) {
    if (w.end <= start || w.begin >= end)
      continue;
    out.waits.push_back({w.op, since_start(w.begin), since_start(w.end)});
  }
  std::sort(out.waits.begin(), out.waits.end(),
            [](const CommInterval& a, const CommInterval& b) { return a.start < b.start; });
  return out;
}

}  // namespace xdit::parallel
