// Gradient averaging on a real gloo process group: two ranks as two threads of this process,
// over a TCPStore on loopback. Each rank's gradients after the reducer must equal the mean of
// the gradients both ranks computed alone, with and without overlap, with one bucket and many.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <thread>

#include "covscreen/dist/context.h"
#include "covscreen/dist/grad_reducer.h"
#include "covscreen/dist/process_group.h"
#include "covscreen/dist/rendezvous.h"
#include "test_util.h"

using namespace covscreen;
using namespace covscreen::dist;

namespace {

torch::nn::Sequential small_net(uint64_t seed) {
  torch::manual_seed(seed);
  return torch::nn::Sequential(torch::nn::Linear(6, 16), torch::nn::ReLU(), torch::nn::Linear(16, 8), torch::nn::ReLU(),
                               torch::nn::Linear(8, 3));
}

torch::Tensor input_for(int rank) {
  auto g = at::detail::createCPUGenerator(100 + rank);
  return torch::randn({5, 6}, g, torch::TensorOptions());
}

std::vector<torch::Tensor> local_grads(torch::nn::Sequential net, int rank) {
  for (auto& p : net->parameters()) p.mutable_grad() = torch::Tensor();
  net->forward(input_for(rank)).pow(2).mean().backward();
  std::vector<torch::Tensor> g;
  for (auto& p : net->parameters()) g.push_back(p.grad().clone());
  return g;
}

// Runs f(rank, comm) on two threads joined in one gloo group.
void two_ranks(const std::function<void(int, compat::CommPtr)>& f) {
  const int port = free_local_port();
  std::vector<std::string> errors(2);
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r)
    threads.emplace_back([&, r] {
      try {
        Rendezvous rv;
        rv.world_size = 2;
        rv.rank = r;
        rv.master_port = port;
        ProcessGroupOptions o;
        o.timeout = std::chrono::seconds(30);
        ProcessGroup pg = create_process_group(rv, o);
        f(r, pg.comm);
      } catch (const std::exception& e) {
        errors[r] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors[0], "");
  EXPECT_EQ(errors[1], "");
}

}  // namespace

TEST(DistReducer, AveragesGradientsWithAndWithoutOverlapInOneOrManyBuckets) {
  if (!have_gloo()) COVSCREEN_SKIP() << unavailable_reason();
  // Reference: each rank's gradient alone, then the mean.
  std::vector<std::vector<torch::Tensor>> alone;
  for (int r = 0; r < 2; ++r) alone.push_back(local_grads(small_net(3), r));
  std::vector<torch::Tensor> mean;
  for (size_t k = 0; k < alone[0].size(); ++k) mean.push_back((alone[0][k] + alone[1][k]) / 2);
  for (bool overlap : {true, false}) {
    for (size_t bucket_bytes : {size_t(25) << 20, size_t(64)}) {
      std::vector<std::vector<torch::Tensor>> got(2);
      std::vector<size_t> buckets(2);
      std::vector<torch::nn::Sequential> nets{small_net(3), small_net(3)};  // seeded here, not in threads
      two_ranks([&](int rank, compat::CommPtr comm) {
        auto net = nets[rank];
        std::vector<torch::Tensor> params = net->parameters();
        GradReducer red(comm, 2, params, {bucket_bytes, overlap});
        buckets[rank] = red.buckets();
        for (int step = 0; step < 2; ++step) {  // twice: the per-step state must reset
          for (auto& p : params) p.mutable_grad() = torch::Tensor();
          net->forward(input_for(rank)).pow(2).mean().backward();
          red.finish();
        }
        for (auto& p : params) got[rank].push_back(p.grad().clone());
      });
      SCOPED_TRACE("overlap=" + std::to_string(overlap) + " bucket_bytes=" + std::to_string(bucket_bytes));
      if (bucket_bytes == 64)
        EXPECT_GT(buckets[0], 2u);
      else
        EXPECT_EQ(buckets[0], 1u);
      for (int r = 0; r < 2; ++r) {
        ASSERT_EQ(got[r].size(), mean.size());
        for (size_t k = 0; k < mean.size(); ++k)
          EXPECT_TRUE(torch::allclose(got[r][k], mean[k], 1e-5, 1e-6)) << "rank " << r << " param " << k;
      }
      // The two ranks' gradients really differed (else averaging proves nothing).
      EXPECT_FALSE(torch::allclose(alone[0][0], alone[1][0]));
    }
  }
}

TEST(DistReducer, ParametersAreBroadcastFromRankZero) {
  if (!have_gloo()) COVSCREEN_SKIP() << unavailable_reason();
  std::vector<torch::Tensor> after(2);
  std::vector<torch::nn::Sequential> nets{small_net(10), small_net(11)};  // different weights per rank
  two_ranks([&](int rank, compat::CommPtr comm) {
    auto net = nets[rank];
    std::vector<torch::Tensor> ps = net->parameters();
    broadcast_from_rank0(*comm, ps);
    after[rank] = torch::cat({ps[0].reshape({-1}), ps.back().reshape({-1})});
  });
  auto net0 = small_net(10);
  auto want = torch::cat({net0->parameters()[0].reshape({-1}), net0->parameters().back().reshape({-1})});
  EXPECT_TRUE(torch::equal(after[0], want));
  EXPECT_TRUE(torch::equal(after[1], want));
}
