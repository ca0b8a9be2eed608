#include "xdit/progress_bar.hpp"

#include <unistd.h>

#include <cstdio>

namespace xdit::app {

ProgressBar::ProgressBar(std::string label, int64_t already_done)
    : label_(std::move(label)),
      already_done_(already_done),
      start_(std::chrono::steady_clock::now()),
      interactive_(::isatty(STDERR_FILENO) != 0) {}

void ProgressBar::update(int64_t done, int64_t total, const std::string& detail) {
  constexpr int kWidth = 30;
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const int64_t timed = done - already_done_;
  const double per_step = timed > 0 ? elapsed / static_cast<double>(timed) : 0.0;
  const double eta = per_step * static_cast<double>(total - done);
  const int filled = total > 0 ? static_cast<int>(kWidth * done / total) : kWidth;
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(kWidth, '.');
  std::fprintf(stderr, "%s%s step %lld/%lld [%s] %.2f s/step, ETA %.1f s%s%s%s",
               interactive_ ? "\r" : "", label_.c_str(), static_cast<long long>(done),
               static_cast<long long>(total), bar.c_str(), per_step, eta,
               detail.empty() ? "" : ", ", detail.c_str(), interactive_ ? "\x1b[K" : "\n");
  std::fflush(stderr);
}

void ProgressBar::finish() {
  if (interactive_ && !finished_)
    std::fprintf(stderr, "\n");
  finished_ = true;
}

}  // namespace xdit::app
