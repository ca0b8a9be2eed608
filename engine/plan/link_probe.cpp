#include "plan/link_probe.hpp"

#include <ATen/ATen.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <exception>
#include <filesystem>
#include <functional>
#include <thread>
#include <vector>

#include "bench/statistics.hpp"
#include "parallel/communicator.hpp"

namespace xdit::plan {
namespace {

constexpr int kUntimedRounds = 3;

// Both ranks send `tensor` to each other at once and wait for the other's, as
// the parallel methods exchange (every rank sending while it receives);
// rank 0's seconds per exchange.
std::vector<double> exchange(parallel::Group& group, const at::Tensor& tensor, int rounds) {
  std::vector<double> seconds;
  const int peer = 1 - group.index();
  at::Tensor received = at::empty_like(tensor);
  for (int round = 0; round < kUntimedRounds + rounds; ++round) {
    const auto start = std::chrono::steady_clock::now();
    parallel::PendingOp receiving = group.irecv(received, peer);
    parallel::PendingOp sending = group.isend(tensor, peer);
    receiving.wait();
    sending.wait();
    if (round >= kUntimedRounds) {
      seconds.push_back(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
  }
  return seconds;
}

// Median seconds of `rounds` runs of `run`, after 3 untimed.
double timed(int rounds, const std::function<void()>& run) {
  std::vector<double> seconds;
  for (int round = 0; round < kUntimedRounds + rounds; ++round) {
    const auto start = std::chrono::steady_clock::now();
    run();
    if (round >= kUntimedRounds) {
      seconds.push_back(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
  }
  return bench::median(seconds);
}

// As a worker group's ranks are: each on a core of its own where there are
// two (the link's work then competes with nothing else of this probe).
void pin_to_core(int rank) {
  cpu_set_t allowed;
  if (::sched_getaffinity(0, sizeof(allowed), &allowed) != 0 || CPU_COUNT(&allowed) < 2)
    return;
  int seen = -1;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &allowed) && ++seen == rank) {
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(cpu, &one);
      ::pthread_setaffinity_np(::pthread_self(), sizeof(one), &one);
      return;
    }
  }
}

}  // namespace

LinkModel probe_local_link(const LinkProbeOptions& options) {
  const auto directory =
      std::filesystem::temp_directory_path() / ("xdit-link-probe-" + std::to_string(::getpid()));
  std::filesystem::create_directories(directory);
  double small = 0, large = 0;
  std::array<double, 3> collectives{};  // all-to-all, all-reduce, all-gather
  std::exception_ptr failures[2];
  const auto member = [&](int rank) {
    try {
      parallel::Rendezvous rendezvous;
      rendezvous.world_size = 2;
      rendezvous.rank = rank;
      rendezvous.store_file = (directory / "store").string();
      rendezvous.timeout = std::chrono::seconds(60);
      pin_to_core(rank);
      parallel::Communicator comm(rendezvous);
      parallel::Group& group = comm.world();
      const int64_t values = options.large_bytes / 4;
      // The fastest small exchange: scheduling hiccups of this machine (a
      // few ms, now and then) are not the link's latency.
      const double tiny =
          bench::spread_of(exchange(group, at::zeros({1}, at::kFloat), options.rounds)).min;
      const double big =
          bench::median(exchange(group, at::zeros({values}, at::kFloat), options.rounds));
      // Each collective with the bytes bench/comm_model.hpp counts for it
      // on two ranks: all-to-all and all-gather send half the large
      // message, the all-reduce (2(N-1)/N of its tensor) all of it.
      const at::Tensor chunks = at::zeros({2, values / 2}, at::kFloat);
      const at::Tensor half = at::zeros({values / 2}, at::kFloat);
      at::Tensor whole = at::zeros({values}, at::kFloat);
      const double to_all = timed(options.rounds, [&] { group.all_to_all(chunks, 0, 0); });
      const double reduce = timed(options.rounds, [&] { group.all_reduce_sum_(whole); });
      const double gather = timed(options.rounds, [&] { group.all_gather(half, 0); });
      if (rank == 0) {
        small = tiny;
        large = big;
        collectives = {to_all, reduce, gather};
      }
    } catch (...) {
      failures[rank] = std::current_exception();
    }
  };
  std::thread other(member, 1);
  member(0);
  other.join();
  std::error_code ignored;
  std::filesystem::remove_all(directory, ignored);
  for (const std::exception_ptr& failure : failures) {
    if (failure)
      std::rethrow_exception(failure);
  }
  const double latency = small;
  // Never below a microsecond, so that timer noise cannot make the
  // bandwidth negative or infinite.
  const double transfer = std::max(large - latency, 1e-6);
  const double bytes = static_cast<double>(options.large_bytes);
  LinkModel link = link_of(bytes / transfer, latency);
  link.name = "measured";
  // Seconds per counted byte over the exchange's, each with its counted bytes.
  const std::array<std::pair<Collective, double>, 3> counted = {
      {{Collective::kAllToAll, bytes / 2},
       {Collective::kAllReduce, bytes},
       {Collective::kAllGather, bytes / 2}}};
  for (size_t i = 0; i < counted.size(); ++i) {
    const auto [kind, sent] = counted[i];
    const double seconds = std::max(collectives[i] - latency, 1e-6);
    link.slowdown.at(static_cast<size_t>(kind)) = seconds / (sent / link.bandwidth);
  }
  return link;
}

}  // namespace xdit::plan
