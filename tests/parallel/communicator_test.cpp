#include "parallel/communicator.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "parallel/comm_error.hpp"
#include "process_group_harness.hpp"

namespace xdit::parallel {
namespace {

using testing::GroupRunOptions;
using testing::run_process_group;

// A tensor every rank can rebuild for any other rank.
at::Tensor pattern(int rank, at::IntArrayRef shape) {
  const int64_t n = c10::multiply_integers(shape);
  return (at::arange(n, at::kFloat) + 1000.0 * rank).reshape(shape);
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The operations, on a direct link and on a host-staged one (--comm gloo's,
// which copies every tensor through host memory and back: on CPU tensors the
// copies are all that differs, so any lost copy-back shows here).
class CommunicatorOps : public ::testing::TestWithParam<bool> {
 protected:
  static GroupRunOptions link() {
    GroupRunOptions options;
    options.host_staged = GetParam();
    return options;
  }
};

INSTANTIATE_TEST_SUITE_P(Links, CommunicatorOps, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "HostStaged" : "Direct";
                         });

TEST_P(CommunicatorOps, SendAndReceive) {
  run_process_group(
      2,
      [](Communicator& comm, int rank) {
        Group& world = comm.world();
        if (rank == 0) {
          world.send(pattern(0, {2, 3}), 1);
          world.send(pattern(7, {3, 2}).t(), 1, /*tag=*/5);  // non-contiguous source
        } else {
          at::Tensor a = at::empty({2, 3});
          world.recv(a, 0);
          EXPECT_TRUE(at::equal(a, pattern(0, {2, 3})));
          // Into a non-contiguous view: received, then copied into place.
          at::Tensor base = at::zeros({3, 2});
          at::Tensor view = base.t();
          world.recv(view, 0, 5);
          EXPECT_TRUE(at::equal(base, pattern(7, {3, 2})));
        }
      },
      link());
}

TEST_P(CommunicatorOps, AsyncSendsAndReceivesAroundARing) {
  // Ring attention's pattern: post the receive and the send, compute, wait.
  run_process_group(
      3,
      [](Communicator& comm, int rank) {
        Group& world = comm.world();
        const int next = (rank + 1) % 3;
        const int prev = (rank + 2) % 3;
        at::Tensor incoming = at::empty({4, 5});
        PendingOp recv = world.irecv(incoming, prev);
        PendingOp send = world.isend(pattern(rank, {4, 5}), next);
        EXPECT_TRUE(recv.pending());
        EXPECT_TRUE(at::equal(recv.wait(), pattern(prev, {4, 5})));
        EXPECT_TRUE(at::equal(incoming, pattern(prev, {4, 5})));
        send.wait();
        EXPECT_FALSE(send.pending());
      },
      link());
}

TEST_P(CommunicatorOps, AllGatherAsListAndConcatenated) {
  run_process_group(
      3,
      [](Communicator& comm, int rank) {
        Group& world = comm.world();
        const std::vector<at::Tensor> pieces = world.all_gather(pattern(rank, {2, 2}));
        ASSERT_EQ(pieces.size(), 3u);
        for (int r = 0; r < 3; ++r)
          EXPECT_TRUE(at::equal(pieces[r], pattern(r, {2, 2})));

        const at::Tensor mine = pattern(rank, {2, 3, 4});
        const at::Tensor expected =
            at::cat({pattern(0, {2, 3, 4}), pattern(1, {2, 3, 4}), pattern(2, {2, 3, 4})}, 1);
        EXPECT_TRUE(at::equal(world.all_gather(mine, 1), expected));
        PendingOp pending = world.all_gather_async(mine, -2);
        EXPECT_TRUE(at::equal(pending.wait(), expected));
      },
      link());
}

TEST_P(CommunicatorOps, AllToAllSwapsTheSplitDimensionLikeUlysses) {
  run_process_group(
      2,
      [](Communicator& comm, int rank) {
        // [batch, heads, tokens, head_dim], tokens split across ranks: after the
        // exchange each rank holds half of the heads for all tokens.
        const at::Tensor input = pattern(rank, {1, 4, 3, 2});
        const at::Tensor output = comm.world().all_to_all(input, 1, 2);
        std::vector<at::Tensor> expected;
        for (int source = 0; source < 2; ++source) {
          expected.push_back(pattern(source, {1, 4, 3, 2}).slice(1, 2 * rank, 2 * rank + 2));
        }
        EXPECT_TRUE(at::equal(output, at::cat(expected, 2)));
        // And back: heads gathered, tokens scattered.
        EXPECT_TRUE(at::equal(comm.world().all_to_all(output, 2, 1), input));
        EXPECT_THROW(comm.world().all_to_all(pattern(rank, {3, 2}), 0, 1), UsageError);
      },
      link());
}

TEST_P(CommunicatorOps, AllToAllWithUnevenSplits) {
  run_process_group(
      2,
      [](Communicator& comm, int rank) {
        // Rank 0 holds 3 rows (1 kept, 2 for rank 1); rank 1 holds 4 (3 for rank 0, 1 kept).
        const at::Tensor r0 = pattern(0, {3, 2});
        const at::Tensor r1 = pattern(1, {4, 2});
        const at::Tensor output = rank == 0 ? comm.world().all_to_all_uneven(r0, {1, 2}, {1, 3})
                                            : comm.world().all_to_all_uneven(r1, {3, 1}, {2, 1});
        const at::Tensor expected = rank == 0 ? at::cat({r0.slice(0, 0, 1), r1.slice(0, 0, 3)})
                                              : at::cat({r0.slice(0, 1, 3), r1.slice(0, 3, 4)});
        EXPECT_TRUE(at::equal(output, expected));
        EXPECT_THROW(comm.world().all_to_all_uneven(r0, {1, 1}, {1, 1}), UsageError);
      },
      link());
}

TEST_P(CommunicatorOps, AllReduceBroadcastAndBarrier) {
  run_process_group(
      3,
      [](Communicator& comm, int rank) {
        Group& world = comm.world();
        const at::Tensor mine = pattern(rank, {5});
        const at::Tensor expected = pattern(0, {5}) + pattern(1, {5}) + pattern(2, {5});
        EXPECT_TRUE(at::equal(world.all_reduce_sum(mine), expected));
        EXPECT_TRUE(at::equal(mine, pattern(rank, {5}))) << "the input must be left alone";
        at::Tensor in_place = pattern(rank, {5, 2}).t();  // non-contiguous
        world.all_reduce_sum_(in_place);
        EXPECT_TRUE(at::equal(in_place,
                              (pattern(0, {5, 2}) + pattern(1, {5, 2}) + pattern(2, {5, 2})).t()));

        at::Tensor shared = rank == 2 ? pattern(2, {3}) : at::zeros({3});
        world.broadcast_(shared, 2);
        EXPECT_TRUE(at::equal(shared, pattern(2, {3})));
        world.barrier();
      },
      link());
}

TEST(Communicator, MeshSubGroupsTalkOnlyWithinThemselves) {
  const auto check_groups = [](Communicator& comm, int rank) {
    const Mesh& mesh = *comm.mesh();
    for (Dim dim : kAllDims) {
      SCOPED_TRACE(std::string(dim_name(dim)));
      Group& group = comm.group(dim);
      const std::vector<int> members = mesh.group(dim);
      ASSERT_EQ(group.ranks(), members);
      EXPECT_EQ(group.index(), mesh.coord(dim));
      const at::Tensor gathered = group.all_gather(at::full({1}, rank, at::kFloat), 0);
      EXPECT_TRUE(
          at::equal(gathered, at::tensor(std::vector<float>(members.begin(), members.end()))));
      int sum = 0;
      for (int m : members)
        sum += m;
      EXPECT_EQ(group.all_reduce_sum(at::full({2}, rank, at::kFloat))[0].item<float>(), sum);
    }
  };
  ParallelConfig usp;
  usp.ulysses_degree = 2;
  usp.ring_degree = 2;
  run_process_group(usp, check_groups);
  ParallelConfig hybrid;
  hybrid.cfg_degree = 2;
  hybrid.tensor_degree = 2;
  run_process_group(hybrid, [&](Communicator& comm, int rank) {
    check_groups(comm, rank);
    // The cfg partners exchange through point to point as well.
    Group& cfg = comm.group(Dim::kCfg);
    const int partner = cfg.ranks()[1 - cfg.index()];
    at::Tensor got = at::empty({2});
    PendingOp recv = cfg.irecv(got, partner);
    cfg.send(pattern(rank, {2}), partner);
    recv.wait();
    EXPECT_TRUE(at::equal(got, pattern(partner, {2})));
  });
}

TEST(Communicator, CountsBytesPerOperationAndResets) {
  run_process_group(2, [](Communicator& comm, int rank) {
    Group& world = comm.world();
    CommStats& stats = comm.stats();
    stats.reset();
    world.all_reduce_sum(at::ones({1000}));      // 4000 B: 2·(n-1)/n of it each way
    world.all_gather(at::ones({100}));           // 400 B to the other rank
    world.all_to_all(at::ones({2, 100}), 0, 1);  // half of 800 B leaves
    at::Tensor data = at::ones({10});            // 40 B
    if (rank == 0)
      world.send(data, 1);
    if (rank == 1)
      world.recv(data, 0);
    at::Tensor shared = at::ones({100});
    world.broadcast_(shared, 0);
    world.barrier();

    EXPECT_EQ(stats.of(CommOp::kAllReduce).bytes_sent, 4000);
    EXPECT_EQ(stats.of(CommOp::kAllReduce).bytes_received, 4000);
    EXPECT_EQ(stats.of(CommOp::kAllGather).bytes_sent, 400);
    EXPECT_EQ(stats.of(CommOp::kAllToAll).bytes_sent, 400);
    EXPECT_EQ(stats.of(CommOp::kSend).bytes_sent, rank == 0 ? 40 : 0);
    EXPECT_EQ(stats.of(CommOp::kRecv).bytes_received, rank == 1 ? 40 : 0);
    EXPECT_EQ(stats.of(CommOp::kBroadcast).bytes_sent, rank == 0 ? 400 : 0);
    EXPECT_EQ(stats.of(CommOp::kBroadcast).bytes_received, rank == 0 ? 0 : 400);
    EXPECT_EQ(stats.of(CommOp::kBarrier).calls, 1);
    EXPECT_EQ(stats.total().bytes_sent, 4000 + 400 + 400 + (rank == 0 ? 440 : 0));
    EXPECT_GE(stats.total().wait_seconds, 0.0);

    const nlohmann::json json = stats.to_json();
    EXPECT_EQ(json["all_reduce"]["bytes_sent"].get<int64_t>(), 4000);
    EXPECT_EQ(json.contains("send"), rank == 0);
    stats.reset();
    EXPECT_EQ(stats.total().calls, 0);
    EXPECT_EQ(stats.to_json().size(), 1u);  // only "total"
  });
}

TEST(Communicator, PeerThatExitsEarlyGivesTheOthersANamedError) {
  GroupRunOptions options;
  options.op_timeout = std::chrono::seconds(10);
  run_process_group(
      2,
      [](Communicator& comm, int rank) {
        // Both have formed the group first: with LibTorch 2.x's Gloo a rank
        // can finish connecting before its peer has, and leaving then would
        // fail the peer's rendezvous instead of an operation.
        comm.world().barrier();
        if (rank == 1)
          return;  // leaves the group: its process exits
        const auto begin = std::chrono::steady_clock::now();
        try {
          comm.world().all_reduce_sum(at::ones({1000}));
          ADD_FAILURE() << "all_reduce with a departed peer succeeded";
        } catch (const CommError& e) {
          const std::string message = e.what();
          EXPECT_TRUE(contains(message, "rank 0: all_reduce")) << message;
          EXPECT_TRUE(contains(message, "group 'world' (ranks 0, 1)")) << message;
          EXPECT_TRUE(contains(message, "exited")) << message;
        }
        EXPECT_LT(std::chrono::steady_clock::now() - begin, std::chrono::seconds(5))
            << "a dead peer must be noticed well before the timeout";
        // The group is out of step now; it says so instead of hanging.
        try {
          comm.world().barrier();
          ADD_FAILURE() << "a failed group accepted another operation";
        } catch (const CommError& e) {
          EXPECT_TRUE(contains(e.what(), "failed earlier")) << e.what();
        }
      },
      options);
}

TEST(Communicator, StuckPeerTimesOutWithAnError) {
  GroupRunOptions options;
  options.op_timeout = std::chrono::milliseconds(1500);
  run_process_group(
      2,
      [](Communicator& comm, int rank) {
        at::Tensor incoming = at::empty({4});
        if (rank == 1) {
          std::this_thread::sleep_for(std::chrono::seconds(3));
          return;
        }
        const auto begin = std::chrono::steady_clock::now();
        try {
          comm.world().recv(incoming, 1);
          ADD_FAILURE() << "recv from a silent peer succeeded";
        } catch (const CommError& e) {
          EXPECT_TRUE(contains(e.what(), "rank 0: recv of 16 B from rank 1")) << e.what();
          EXPECT_TRUE(contains(e.what(), "1.5 s timeout")) << e.what();
        }
        const auto waited = std::chrono::steady_clock::now() - begin;
        EXPECT_GT(waited, std::chrono::milliseconds(1000));
        EXPECT_LT(waited, std::chrono::milliseconds(2900));
      },
      options);
}

TEST(Communicator, RankZeroCanServeTheStore) {
  GroupRunOptions options;
  options.rank0_serves_store = true;
  run_process_group(
      2,
      [](Communicator& comm, int) {
        EXPECT_EQ(comm.world().all_reduce_sum(at::ones({3}))[0].item<float>(), 2.f);
      },
      options);
}

TEST(Communicator, SingleProcessNeedsNoStoreAndWorksLocally) {
  Rendezvous rendezvous;
  rendezvous.master_port = 0;  // unused: nothing to meet
  Communicator comm(rendezvous, Mesh(ParallelConfig{}, 1, 0));
  const at::Tensor x = pattern(0, {2, 3});
  EXPECT_TRUE(at::equal(comm.world().all_reduce_sum(x), x));
  EXPECT_TRUE(at::equal(comm.group(Dim::kUlysses).all_to_all(x, 0, 1), x));
  EXPECT_TRUE(at::equal(comm.group(Dim::kSequence).all_gather(x, 1), x));
  EXPECT_TRUE(at::equal(comm.group(Dim::kTensor).all_to_all_uneven(x, {2}, {2}), x));
  at::Tensor y = x.clone();
  comm.group(Dim::kCfg).broadcast_(y, 0);
  EXPECT_TRUE(at::equal(y, x));
  comm.world().barrier();
  EXPECT_THROW(comm.world().send(x, 0), UsageError);
  EXPECT_THROW(comm.world().send(x, 1), UsageError);
  EXPECT_EQ(comm.stats().of(CommOp::kAllReduce).calls, 1);
  EXPECT_EQ(comm.stats().total().bytes_sent, 0);

  Communicator plain(rendezvous);
  EXPECT_THROW(plain.group(Dim::kTensor), UsageError);
}

TEST(Communicator, RendezvousThatNeverCompletesFailsWithinTheTimeout) {
  Rendezvous rendezvous;
  rendezvous.world_size = 2;
  rendezvous.timeout = std::chrono::milliseconds(1000);
  // Rank 1 with nobody serving the store.
  rendezvous.rank = 1;
  rendezvous.master_port = 1;
  auto begin = std::chrono::steady_clock::now();
  try {
    Communicator comm(rendezvous);
    ADD_FAILURE() << "joined a store that does not exist";
  } catch (const CommError& e) {
    EXPECT_TRUE(contains(e.what(), "rank 1 could not reach the rendezvous store at 127.0.0.1:1"))
        << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - begin, std::chrono::seconds(5));
  // Rank 0 serving while rank 1 never comes.
  rendezvous.rank = 0;
  rendezvous.master_port = testing::free_local_port();
  rendezvous.world_size = 2;
  begin = std::chrono::steady_clock::now();
  try {
    Communicator comm(rendezvous);
    ADD_FAILURE() << "formed a group with a missing member";
  } catch (const CommError& e) {
    EXPECT_TRUE(contains(e.what(), "group 'world' (ranks 0, 1) did not form")) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - begin, std::chrono::seconds(5));
}

TEST(Communicator, RefusesAMeshOfAnotherRank) {
  Rendezvous rendezvous;
  ParallelConfig two;
  two.data_degree = 2;
  EXPECT_THROW(Communicator(rendezvous, Mesh(two, 2, 1)), UsageError);
  rendezvous.rank = 1;
  EXPECT_THROW(Communicator{rendezvous}, UsageError);
}

}  // namespace
}  // namespace xdit::parallel
