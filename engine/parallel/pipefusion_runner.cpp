#include "parallel/pipefusion_runner.hpp"

#include <ATen/ATen.h>

#include <deque>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "parallel/pipefusion_layout.hpp"
#include "parallel/synchronous_runner.hpp"
#include "parallel/usp_attention.hpp"

namespace xdit::parallel {
namespace {

using models::PatchRows;

// One unit of a stage's work: the whole image of a warm-up step, or one
// patch of a pipelined step.
struct Segment {
  int64_t step = 0;
  PatchRows rows;         // the segment's band of token rows
  models::TokenSpan run;  // this Ulysses rank's share of its tokens
};

// token_run over the tokens of `band` instead of a whole grid.
models::TokenSpan band_run(const PatchRows& band, int index, int ranks) {
  const models::TokenSpan run =
      token_run(PatchRows::whole(band.num_rows, band.grid_width), index, ranks);
  return {PatchRows::whole(band.grid_height, band.grid_width),
          band.first_row * band.grid_width + run.first, run.count};
}

// What one stage hands the next: a segment's image tokens, followed by the
// text stream of an MMDiT (which travels with every patch).
at::Tensor stage_message(const models::DitHidden& hidden) {
  return hidden.text.defined() ? at::cat({hidden.image, hidden.text}, 1) : hidden.image;
}

models::DitHidden from_stage_message(const at::Tensor& message, int64_t image_tokens) {
  if (message.size(1) == image_tokens)
    return {message, at::Tensor()};
  return {message.narrow(1, 0, image_tokens),
          message.narrow(1, image_tokens, message.size(1) - image_tokens)};
}

// Messages from the previous stage, received in the order sent into buffers
// posted ahead. Each message has its own tag (its position in the stream),
// so a message cannot land in another's buffer.
class Inbox {
 public:
  Inbox(Group& group, int source) : group_(group), source_(source) {}
  void post(const at::Tensor& buffer) {
    pending_.push_back(group_.irecv(buffer, source_, next_tag_++));
  }
  at::Tensor take() {
    at::Tensor message = pending_.front().wait();
    pending_.pop_front();
    return message;
  }

 private:
  Group& group_;
  int source_;
  int next_tag_ = 0;
  std::deque<PendingOp> pending_;
};

// Messages to the next stage, sent without waiting; flush() completes them
// (the receiver has its buffers posted by then, a step ahead).
class Outbox {
 public:
  Outbox(Group& group, int destination) : group_(group), destination_(destination) {}
  void send(const at::Tensor& message) {
    sent_.push_back(group_.isend(message, destination_, next_tag_++));
  }
  void flush() {
    for (PendingOp& op : sent_)
      op.wait();
    sent_.clear();
  }

 private:
  Group& group_;
  int destination_;
  int next_tag_ = 0;
  std::vector<PendingOp> sent_;
};

}  // namespace

PipeFusionRunner::PipeFusionRunner(const Mesh& mesh, Group& pipeline, Group& ulysses, Group& ring)
    : config_(mesh.config()),
      stage_(mesh.coord(Dim::kPipeline)),
      stages_(mesh.degree(Dim::kPipeline)),
      prev_rank_(mesh.pipeline_prev_rank()),
      next_rank_(mesh.pipeline_next_rank()),
      pipeline_(pipeline),
      ulysses_(ulysses),
      stale_(cache_) {
  if (stages_ < 2)
    throw UsageError("PipeFusion needs at least two stages (--pipefusion_parallel_degree)");
  if (ring.size() > 1) {
    throw UsageError("PipeFusion does not combine with ring attention (ring degree " +
                     std::to_string(ring.size()) + "): use --ulysses_degree for the sequence");
  }
  if (ulysses.size() > 1)
    exchange_ = std::make_unique<UspAttention>(ulysses, ring, &stale_);
}

at::Tensor PipeFusionRunner::denoise(const models::DiffusionTransformer& model, at::Tensor latents,
                                     const models::DitInputs& inputs, const DenoiseLoop& loop) {
  const schedulers::Scheduler& scheduler = *loop.scheduler;
  const at::Tensor& timesteps = scheduler.timesteps();
  const int64_t steps = timesteps.size(0);
  const int64_t warmup = std::min<int64_t>(config_.warmup_steps, steps);
  const models::DitShape& shape = model.shape();
  const int64_t p = shape.patch_size;
  const PatchRows grid = model.patch_grid(latents.size(2), latents.size(3));
  const std::vector<PatchRows> bands = patch_bands(grid, config_.pipeline_patches());
  const int64_t model_batch = inputs.batch();
  const bool first = stage_ == 0;
  const bool last = stage_ == stages_ - 1;
  models::AttentionStrategy& attention =
      exchange_ ? *exchange_ : static_cast<models::AttentionStrategy&>(stale_);

  // Stepped in place by the last stage, filled band by band on the first.
  latents = latents.clone();
  std::vector<schedulers::SchedulerState> states(bands.size());
  cache_.clear();

  const auto segments_of = [&](int64_t step) {
    std::vector<Segment> segments;
    for (const PatchRows& rows : step < warmup ? std::vector<PatchRows>{grid} : bands)
      segments.push_back({step, rows, band_run(rows, ulysses_.index(), ulysses_.size())});
    return segments;
  };
  const auto band_of = [&](const at::Tensor& x, const PatchRows& rows) {
    return x.narrow(2, rows.first_row * p, rows.num_rows * p);
  };

  // The first stage receives the latent bands the last one stepped; the
  // others the hidden states of the stage before. A step's receives are
  // posted when it starts (the first stage's are used in the next step).
  Inbox inbox(pipeline_, prev_rank_);
  Outbox outbox(pipeline_, next_rank_);
  const auto post_receives = [&](int64_t step, int64_t text_tokens) {
    if (first && step + 1 == steps)
      return;  // the final latents are broadcast instead
    for (const Segment& segment : segments_of(step)) {
      if (first) {
        inbox.post(at::empty_like(band_of(latents, segment.rows), at::MemoryFormat::Contiguous));
      } else {
        inbox.post(at::empty({model_batch, segment.run.count + text_tokens, shape.inner_dim},
                             latents.options().dtype(model.dtype())));
      }
    }
  };

  StepClock clock(latents.device());
  const auto report = [&](int64_t steps_done, const at::Tensor& x) {
    const double seconds = clock.lap();
    if (loop.on_step)
      loop.on_step(steps_done, seconds, x);
  };

  // The first stage's bands of the previous step that have not arrived yet.
  std::deque<Segment> awaited;
  const auto receive_latents_up_to = [&](const PatchRows& rows) {
    while (!awaited.empty() && awaited.front().rows.first_row < rows.first_row + rows.num_rows) {
      const Segment segment = awaited.front();
      awaited.pop_front();
      band_of(latents, segment.rows).copy_(inbox.take());
      if (segment.rows.first_row + segment.rows.num_rows == grid.num_rows)
        report(segment.step + 1, latents);
    }
  };

  for (int64_t step = 0; step < steps; ++step) {
    // Every stage conditions its own blocks on the step's timestep.
    const std::unique_ptr<models::DitStep> conditioning =
        model.condition(timesteps[step].reshape({1}).expand({model_batch}), inputs);
    post_receives(step, conditioning->text_tokens());
    for (const Segment& segment : segments_of(step)) {
      models::DitHidden hidden;
      if (first) {
        receive_latents_up_to(segment.rows);
        const PatchRows rows = segment.run.rows();
        const at::Tensor input =
            loop.model_input(scheduler.scale_model_input(band_of(latents, rows), step))
                .to(model.dtype());
        hidden = model.embed(input, segment.run, *conditioning);
      } else {
        hidden = from_stage_message(inbox.take(), segment.run.count);
      }
      // After the Ulysses exchange a rank holds the segment's every token.
      stale_.set_tokens(segment.rows.first_row * grid.grid_width, grid.num_tokens());
      hidden = model.run_blocks(std::move(hidden), segment.run, *conditioning, attention);
      if (!last) {
        outbox.send(stage_message(hidden));
        continue;
      }
      const at::Tensor patches =
          ulysses_.all_gather(model.output_patches(hidden.image, *conditioning), 1);
      const at::Tensor noise = loop.noise(model.unpatchify(patches, segment.rows).to(at::kFloat));
      // Each patch steps with its own state, warm-up steps included.
      for (size_t b = 0; b < bands.size(); ++b) {
        const PatchRows& band = bands[b];
        if (band.first_row < segment.rows.first_row ||
            band.first_row >= segment.rows.first_row + segment.rows.num_rows) {
          continue;
        }
        at::Tensor sample = band_of(latents, band);
        const at::Tensor band_noise =
            noise.narrow(2, (band.first_row - segment.rows.first_row) * p, band.num_rows * p);
        // A copy: a scheduler may keep the sample it was given.
        sample.copy_(scheduler.step(band_noise, step, sample.clone(), states[b]));
      }
      if (step + 1 < steps)
        outbox.send(band_of(latents, segment.rows));
    }
    if (first && step + 1 < steps) {
      for (const Segment& segment : segments_of(step))
        awaited.push_back(segment);
    }
    outbox.flush();
    if (last) {
      report(step + 1, latents);
    } else if (!first && step + 1 < steps) {
      report(step + 1, at::Tensor());
    }
  }
  pipeline_.broadcast_(latents, pipeline_.ranks().back());
  if (!last)
    report(steps, latents);
  return latents;
}

}  // namespace xdit::parallel
