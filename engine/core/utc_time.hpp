#pragma once
// The current time as reports and calibration files stamp it.

#include <string>

namespace xdit {

// "2026-12-05T06:40:00Z"
std::string utc_now();

}  // namespace xdit
