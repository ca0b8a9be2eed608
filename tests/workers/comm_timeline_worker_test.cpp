// The last step's wait timeline travels from each rank of a real worker
// group to the launcher, inside the step it describes.

#include <gtest/gtest.h>

#include "worker_test_support.hpp"
#include "workers/launcher.hpp"

namespace xdit::workers {
namespace {

using namespace xdit::workers::testing;

TEST(CommTimelineWorker, TwoRanksReportTheirLastStepsWaits) {
  parallel::ParallelConfig ulysses2;
  ulysses2.ulysses_degree = 2;
  Launcher group(tiny_spec(ulysses2), test_launch_options());
  const auto request = small_request();
  const auto out = group.generate(request);
  ASSERT_EQ(out.metrics.size(), 2u);
  for (const MetricsMessage& m : out.metrics) {
    const parallel::StepTimeline& t = m.timeline;
    EXPECT_EQ(t.step, request.num_inference_steps) << "rank " << m.rank;
    ASSERT_FALSE(m.step_seconds.empty());
    EXPECT_DOUBLE_EQ(t.seconds, m.step_seconds.back());
    ASSERT_FALSE(t.waits.empty()) << "rank " << m.rank;
    bool exchanged = false;
    for (const parallel::CommInterval& w : t.waits) {
      EXPECT_GE(w.start, 0.0);
      EXPECT_LE(w.start, w.end);
      EXPECT_LE(w.end, t.seconds);
      exchanged = exchanged || w.op == parallel::CommOp::kAllToAll;
    }
    EXPECT_TRUE(exchanged) << "Ulysses exchanges heads with all_to_all in every step";
    EXPECT_LT(t.wait_seconds(), t.seconds);
  }
  group.stop();
}

}  // namespace
}  // namespace xdit::workers
