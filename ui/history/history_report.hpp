#pragma once
// The Studio's past runs as a sweep report (report/sweep_report.hpp): each
// run one row with the same figures a sweep records (the step-time spread,
// per-rank memory, bytes and waiting), its command, and its speedup where
// the history also holds its serial twin. Runs that failed are rows with
// their error.

#include <vector>

#include "report/sweep_report.hpp"
#include "ui/run_record.hpp"

namespace xdit::ui {

report::SweepReport history_report(const std::vector<RunRecord>& records);

}  // namespace xdit::ui
