// Ulysses, Ring and USP attention against plain attention over the whole
// sequence, on random tensors, and the token runs of the sequence split.

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include "core/error.hpp"
#include "models/attention.hpp"
#include "parallel/ring_attention.hpp"
#include "parallel/synchronous_runner.hpp"
#include "parallel/usp_attention.hpp"
#include "process_group_harness.hpp"
#include "support/attention_reference.hpp"
#include "support/rounding.hpp"

namespace xdit::parallel {
namespace {

using testing::run_process_group;

using models::JointOrder;
using models::Qkv;

// The same random q/k/v on every rank: [B, H, L, D].
Qkv whole_sequence(int64_t heads, int64_t tokens, uint64_t seed = 7) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto options = at::TensorOptions().dtype(at::kFloat);
  return {at::randn({2, heads, tokens, 8}, generator, options),
          at::randn({2, heads, tokens, 8}, generator, options),
          at::randn({2, heads, tokens, 8}, generator, options)};
}

void expect_sequence_attention_is_exact(int ulysses, int ring, int64_t heads, int64_t tokens) {
  ParallelConfig config;
  config.ulysses_degree = ulysses;
  config.ring_degree = ring;
  run_process_group(config, [=](Communicator& comm, int) {
    const Qkv all = whole_sequence(heads, tokens);
    Group& sequence = comm.group(Dim::kSequence);
    const int64_t run = tokens / sequence.size();
    const auto own = [&](const at::Tensor& t) { return t.narrow(2, run * sequence.index(), run); };
    const double scale = 0.35;
    UspAttention usp(comm.group(Dim::kUlysses), comm.group(Dim::kRing));
    const at::Tensor out = usp.self_attention(0, own(all.q), own(all.k), own(all.v), scale);
    // Within float32's bound of the float64 attention, as the serial kernel
    // is, with a merge for each further ring block.
    const xdit::testing::AttentionReference want =
        xdit::testing::attention_reference(own(all.q), all.k, all.v, {}, scale, ring - 1);
    ASSERT_EQ(out.sizes(), want.out.sizes());
    EXPECT_LE(xdit::testing::bound_ratio(out, want.out, want.out_bound), 1.0);
  });
}

// An MMDiT's joint attention: each rank holds a run of the image tokens and
// the whole text; every image and text query attends to the whole image and
// the text, as one joined sequence in `order` would.
void expect_joint_attention_is_exact(int ulysses, int ring, int64_t heads, int64_t tokens,
                                     JointOrder order) {
  ParallelConfig config;
  config.ulysses_degree = ulysses;
  config.ring_degree = ring;
  run_process_group(config, [=](Communicator& comm, int) {
    const Qkv image = whole_sequence(heads, tokens);
    const Qkv text = whole_sequence(heads, 5, 11);
    Group& sequence = comm.group(Dim::kSequence);
    const int64_t run = tokens / sequence.size();
    const auto own = [&](const at::Tensor& t) { return t.narrow(2, run * sequence.index(), run); };
    const double scale = 0.35;
    UspAttention usp(comm.group(Dim::kUlysses), comm.group(Dim::kRing));
    const models::JointOutput out =
        usp.attend(0, {own(image.q), own(image.k), own(image.v)}, text, order, scale);
    const auto joined = [&](const at::Tensor& i, const at::Tensor& t) {
      return models::join_tokens(i, t, order, 2);
    };
    const xdit::testing::AttentionReference want =
        xdit::testing::attention_reference(joined(own(image.q), text.q), joined(image.k, text.k),
                                           joined(image.v, text.v), {}, scale, ring - 1);
    const models::JointOutput want_out = models::split_tokens(want.out, run, order);
    const models::JointOutput want_bound = models::split_tokens(want.out_bound, run, order);
    ASSERT_EQ(out.image.sizes(), want_out.image.sizes());
    ASSERT_EQ(out.text.sizes(), want_out.text.sizes());
    EXPECT_LE(xdit::testing::bound_ratio(out.image, want_out.image, want_bound.image), 1.0);
    EXPECT_LE(xdit::testing::bound_ratio(out.text, want_out.text, want_bound.text), 1.0);
  });
}

TEST(JointSequenceAttention, UlyssesWithTextFirst) {
  expect_joint_attention_is_exact(2, 1, 4, 12, JointOrder::kTextFirst);
}

TEST(JointSequenceAttention, RingOfThreeWithImageFirst) {
  expect_joint_attention_is_exact(1, 3, 2, 15, JointOrder::kImageFirst);
}

TEST(JointSequenceAttention, UlyssesTimesRing) {
  expect_joint_attention_is_exact(2, 2, 6, 20, JointOrder::kTextFirst);
}

TEST(SequenceAttention, UlyssesIsExact) {
  expect_sequence_attention_is_exact(2, 1, 4, 12);
}

TEST(SequenceAttention, RingOfThreeIsExact) {
  expect_sequence_attention_is_exact(1, 3, 2, 15);
}

TEST(SequenceAttention, UlyssesTimesRingIsExact) {
  expect_sequence_attention_is_exact(2, 2, 6, 20);
}

TEST(SequenceAttention, RingPassesEveryBlockOnce) {
  // Each rank's K/V block goes round once: n - 1 sends of one block.
  run_process_group(3, [](Communicator& comm, int) {
    const Qkv all = whole_sequence(2, 6);
    comm.stats().reset();
    ring_attention(comm.world(), all, {}, JointOrder::kImageFirst, 1.0);
    EXPECT_EQ(comm.stats().of(CommOp::kSend).calls, 2);
    EXPECT_EQ(comm.stats().of(CommOp::kSend).bytes_sent, 2 * 2 * all.k.nbytes());
  });
}

TEST(TokenRun, EqualRunsCoveredByWholeRows) {
  const auto grid = models::PatchRows::whole(8, 12);
  const models::TokenSpan second = token_run(grid, 1, 3);
  EXPECT_EQ(second.first, 32);
  EXPECT_EQ(second.count, 32);
  EXPECT_EQ(second.rows().first_row, 2);  // tokens 32..63 lie in rows 2..5
  EXPECT_EQ(second.rows().num_rows, 4);
  const models::TokenSpan last = token_run(grid, 2, 3);
  EXPECT_EQ(last.rows().first_row + last.rows().num_rows, 8);
  EXPECT_EQ(token_run(grid, 0, 1).rows().num_rows, 8);
  EXPECT_THROW(token_run(grid, 0, 5), UsageError);
}

}  // namespace
}  // namespace xdit::parallel
