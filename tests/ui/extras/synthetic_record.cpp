#include <QDateTime>

#include "extras_tests.hpp"

namespace xdit::ui::testing {

RunRecord synthetic_record(int steps, int tint) {
  RunRecord r;
  r.started = QDateTime(QDate(2026, 11, 26), QTime(7, 0, tint % 60), Qt::UTC);
  r.id = new_run_id(r.started);
  r.spec.model = "builtin:tiny-pixart";
  r.spec.parallel.ulysses_degree = 2;
  r.spec.world_size = 2;
  r.request.prompts = {"a small red house"};
  r.request.negative_prompt = "blurry";
  r.request.height = 64;
  r.request.width = 96;
  r.request.num_inference_steps = steps;
  r.request.seed = 42;
  r.image = QImage(96, 64, QImage::Format_RGB32);
  for (int y = 0; y < 64; ++y) {
    for (int x = 0; x < 96; ++x)
      r.image.setPixel(x, y, qRgb(x * 2, y * 3, tint));
  }
  for (int rank = 0; rank < 2; ++rank) {
    r.ready.push_back({rank, 1.5, {100 << 20, 120 << 20}});
    workers::MetricsMessage m;
    m.rank = rank;
    for (int step = 1; step <= steps; ++step) {
      workers::ProgressMessage p;
      p.rank = rank;
      p.step = step;
      p.total = steps;
      p.seconds = 0.1 * step + 0.01 * rank;
      p.memory = {(200 + 10 * step) << 20, (250 + 10 * step + rank) << 20};
      r.progress.push_back(p);
      m.step_seconds.push_back(p.seconds);
    }
    m.memory = {210 << 20, (300 + rank) << 20};
    // Rank 1 waits longer: its all_to_all starts first and ends with rank 0's.
    m.timeline.step = steps;
    m.timeline.seconds = 0.1 * steps;
    m.timeline.waits = {{parallel::CommOp::kAllToAll, rank ? 0.01 : 0.03, 0.05},
                        {parallel::CommOp::kAllGather, 0.2, 0.25}};
    r.metrics.push_back(m);
  }
  r.total_seconds = 2.5;
  return r;
}

}  // namespace xdit::ui::testing
