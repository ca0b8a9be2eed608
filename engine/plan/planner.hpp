#pragma once
// `xdit plan`: every mesh of N devices that a launch would accept for a
// model and a request, with its predicted seconds per step and memory per
// rank, best first, before any machine is booked.
//
// The prediction, per rank and step:
//   compute  the FLOPs of the rank's share (bench/flops.hpp: linear layers
//            over the image split by sequence, tensor and stage; an MMDiT's
//            text stream recomputed by every sequence rank and by every
//            PipeFusion patch; attention by query and head) over the rate
//            given or measured;
//   comm     each method's bytes per step (bench/comm_model.hpp, the model
//            `xdit bench` checks to the byte) for the group it runs on, and
//            its messages, through the α-β link (plan/link_model.hpp);
//            Ring overlaps its exchange with its attention, PipeFusion and
//            DistriFusion theirs with the whole step (the longer counts),
//            except what the rank's own core spends copying; the others
//            add theirs;
//   memory   the parameters the rank holds (its stage and shard, sized from
//            the configs alone: io::ShapeWeights), the text encoders every
//            rank loads, the VAE decoder and its working set on rank 0 (or
//            each rank's band with the parallel VAE), activations of its
//            tokens and the stale K/V buffers of PipeFusion (its stage's
//            layers, its heads) and DistriFusion (every layer).
// Stated simplifications: activations are taken as 12 values of the model
// width per token held (the widest live set of a block), and the steady
// state of the stale methods (after their warm-up steps) is what is timed.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "io/model_folder.hpp"
#include "parallel/parallel_config.hpp"
#include "pipelines/generation.hpp"
#include "plan/link_model.hpp"

namespace xdit::plan {

struct PlanRequest {
  pipelines::GenerationRequest request;  // size, batch, guidance, text length
  int devices = 1;
  std::optional<double> device_memory_bytes;  // unset: no limit
  LinkModel link = link_preset("pcie");
  double flops_per_second = 0;           // one device's sustained rate
  at::ScalarType dtype = at::kBFloat16;  // of the weights and activations
  // What a rank process holds before any model (its runtime: LibTorch, the
  // CUDA context), added to every rank; --calibrate measures it.
  double base_memory_bytes = 0;
  // Bytes per second a rank's own core moves when it sends (Gloo on a CPU
  // rank copies every byte through the kernel's sockets); that part of a
  // transfer cannot hide behind compute, the link's remaining time can
  // (Ring beside its attention, PipeFusion and DistriFusion beside the
  // step). 0: the transfer costs the rank nothing (NCCL on a GPU).
  double host_copy_bandwidth = 0;
};

struct PlannedMesh {
  parallel::ParallelConfig config;
  std::string flags;  // the `xdit generate` flags of this mesh
  double seconds_per_step = 0;
  double compute_seconds = 0;         // the busiest rank's
  double comm_seconds = 0;            // its communication, before overlap
  double hidden_seconds = 0;          // of that, hidden behind compute
  double bytes_sent_per_step = 0;     // by the busiest rank, every method of the mesh
  int64_t memory_per_rank_bytes = 0;  // the largest rank
  bool fits = true;
  std::string why;  // one line: where the time and memory go, or why it does not fit
};

// Every mesh of `request.devices` ranks that parallel::validate accepts for
// this model and request (PipeFusion with 1, 2 and 4 patches per stage),
// predicted; those that fit first, each group fastest first. UsageError for
// a request the model cannot serve at all.
std::vector<PlannedMesh> plan_meshes(const io::ModelFolder& folder, const PlanRequest& request);

// The prediction for one mesh (which must be valid for the request).
PlannedMesh predict_mesh(const io::ModelFolder& folder, const PlanRequest& request,
                         const parallel::ParallelConfig& config);

// One sentence on why the first plan is the best, against one device and
// the runner-up.
std::string explain_best(const std::vector<PlannedMesh>& plans, double single_device_seconds);

}  // namespace xdit::plan
