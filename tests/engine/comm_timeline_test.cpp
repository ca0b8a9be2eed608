#include "parallel/comm_timeline.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace xdit::parallel {
namespace {

using Clock = CommTimeline::Clock;
using std::chrono::milliseconds;

TEST(CommTimeline, CutKeepsTheStepsWaitsClippedAndRelativeToItsStart) {
  const Clock::time_point t0 = Clock::now();
  CommTimeline timeline;
  timeline.add(CommOp::kAllReduce, t0 - milliseconds(30), t0 - milliseconds(20));  // before
  timeline.add(CommOp::kAllToAll, t0 + milliseconds(40), t0 + milliseconds(60));
  timeline.add(CommOp::kRecv, t0 - milliseconds(5), t0 + milliseconds(10));  // straddles
  timeline.add(CommOp::kAllGather, t0 + milliseconds(90), t0 + milliseconds(120));
  const StepTimeline step = timeline.cut(7, t0 + milliseconds(100), 0.1);
  EXPECT_EQ(step.step, 7);
  EXPECT_DOUBLE_EQ(step.seconds, 0.1);
  ASSERT_EQ(step.waits.size(), 3u);
  EXPECT_EQ(step.waits[0].op, CommOp::kRecv);
  EXPECT_NEAR(step.waits[0].start, 0.0, 1e-9);
  EXPECT_NEAR(step.waits[0].end, 0.010, 1e-6);
  EXPECT_EQ(step.waits[1].op, CommOp::kAllToAll);
  EXPECT_NEAR(step.waits[1].start, 0.040, 1e-6);
  EXPECT_EQ(step.waits[2].op, CommOp::kAllGather);
  EXPECT_NEAR(step.waits[2].end, 0.1, 1e-6);
  EXPECT_NEAR(step.wait_seconds(), 0.010 + 0.020 + 0.010, 1e-6);
}

TEST(CommTimeline, StatsFeedTheTracedTimelineOnly) {
  CommStats stats;
  CommTimeline timeline;
  const Clock::time_point t0 = Clock::now();
  stats.add_wait(CommOp::kSend, t0, t0 + milliseconds(5));  // not traced yet
  stats.trace(&timeline);
  stats.add_wait(CommOp::kAllToAll, t0 + milliseconds(10), t0 + milliseconds(15));
  stats.reset();
  stats.add_wait(CommOp::kRecv, t0 + milliseconds(20), t0 + milliseconds(30));
  stats.trace(nullptr);
  stats.add_wait(CommOp::kSend, t0 + milliseconds(40), t0 + milliseconds(45));
  EXPECT_NEAR(stats.of(CommOp::kRecv).wait_seconds, 0.010, 1e-6);
  const StepTimeline step = timeline.cut(1, t0 + milliseconds(50), 0.05);
  ASSERT_EQ(step.waits.size(), 2u);
  EXPECT_EQ(step.waits[0].op, CommOp::kAllToAll);
  EXPECT_EQ(step.waits[1].op, CommOp::kRecv);
  timeline.clear();
  EXPECT_TRUE(timeline.cut(1, t0 + milliseconds(50), 0.05).waits.empty());
}

TEST(CommTimeline, JsonRoundTrip) {
  StepTimeline step{20, 0.5, {{CommOp::kAllToAll, 0.1, 0.2}, {CommOp::kBroadcast, 0.3, 0.45}}};
  const StepTimeline back = step_timeline_from_json(to_json(step), "test");
  EXPECT_EQ(back.step, 20);
  EXPECT_DOUBLE_EQ(back.seconds, 0.5);
  ASSERT_EQ(back.waits.size(), 2u);
  EXPECT_EQ(back.waits[1].op, CommOp::kBroadcast);
  EXPECT_DOUBLE_EQ(back.waits[1].end, 0.45);
  EXPECT_TRUE(step_timeline_from_json(nlohmann::json::object(), "test").waits.empty());
  nlohmann::json bad = to_json(step);
  bad["waits"][0]["op"] = "teleport";
  EXPECT_THROW(step_timeline_from_json(bad, "test"), ConfigError);
}

}  // namespace
}  // namespace xdit::parallel
