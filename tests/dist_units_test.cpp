// Distributed training, the parts without a network: epoch sharding (as DistributedSampler),
// the torchrun environment, the local launcher, the watchdog.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <set>
#include <thread>

#include "covscreen/core/error.h"
#include "covscreen/dist/launcher.h"
#include "covscreen/dist/process_group.h"
#include "covscreen/dist/rendezvous.h"
#include "covscreen/dist/sampler.h"
#include "covscreen/dist/watchdog.h"

using namespace covscreen;
using namespace covscreen::dist;

TEST(DistSampler, ShardsAreEqualSizedPaddedAndCoverEverySample) {
  for (int64_t n : {1, 7, 16, 33}) {
    for (int world : {1, 2, 3, 4}) {
      std::multiset<int64_t> samples;
      const size_t per_rank = static_cast<size_t>((n + world - 1) / world);
      for (int r = 0; r < world; ++r) {
        auto pos = shard_positions(n, r, world);
        ASSERT_EQ(pos.size(), per_rank) << "n=" << n << " world=" << world;
        for (int64_t p : pos) samples.insert(p % n);
      }
      // Every sample at least once; the padding (total - n) repeats the first samples.
      for (int64_t i = 0; i < n; ++i) EXPECT_GE(samples.count(i), 1u) << i;
      const int64_t total = static_cast<int64_t>(per_rank) * world;
      EXPECT_EQ(static_cast<int64_t>(samples.size()), total);
      // Padding wraps around the order: sample i appears once per pass over [0, total).
      for (int64_t i = 0; i < n; ++i)
        EXPECT_EQ(static_cast<int64_t>(samples.count(i)), (total - 1 - i) / n + 1) << "n=" << n << " sample " << i;
    }
  }
  EXPECT_THROW(shard_positions(10, 2, 2), UsageError);
  EXPECT_THROW(shard_positions(10, 0, 0), UsageError);
}

TEST(DistSampler, StepSOfAllRanksIsStepSOfOneProcessWithTheGlobalBatch) {
  const int64_t n = 64;
  const int world = 4, batch = 4;
  std::vector<std::vector<int64_t>> shards;
  for (int r = 0; r < world; ++r) shards.push_back(shard_positions(n, r, world));
  for (int64_t s = 0; s < n / (batch * world); ++s) {
    std::set<int64_t> got;
    for (int r = 0; r < world; ++r)
      for (int j = 0; j < batch; ++j) got.insert(shards[r][s * batch + j]);
    std::set<int64_t> want;
    for (int64_t p = s * batch * world; p < (s + 1) * batch * world; ++p) want.insert(p);
    EXPECT_EQ(got, want) << "step " << s;
  }
}

TEST(DistRendezvous, ReadsTheTorchrunVariablesAndRejectsBadOnes) {
  ::unsetenv("WORLD_SIZE");
  EXPECT_FALSE(rendezvous_from_env().has_value());
  ::setenv("WORLD_SIZE", "4", 1);
  ::setenv("RANK", "3", 1);
  ::setenv("LOCAL_RANK", "1", 1);
  ::setenv("MASTER_ADDR", "10.0.0.5", 1);
  ::setenv("MASTER_PORT", "29612", 1);
  auto rv = rendezvous_from_env();
  ASSERT_TRUE(rv.has_value());
  EXPECT_EQ(rv->world_size, 4);
  EXPECT_EQ(rv->rank, 3);
  EXPECT_EQ(rv->local_rank, 1);
  EXPECT_EQ(rv->master_addr, "10.0.0.5");
  EXPECT_EQ(rv->master_port, 29612);
  ::setenv("RANK", "4", 1);
  EXPECT_THROW(rendezvous_from_env(), UsageError);  // rank outside the world
  ::setenv("RANK", "x1", 1);
  EXPECT_THROW(rendezvous_from_env(), UsageError);
  ::unsetenv("RANK");
  EXPECT_THROW(rendezvous_from_env(), UsageError);  // WORLD_SIZE without RANK
  for (const char* v : {"WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"}) ::unsetenv(v);
  const int port = free_local_port();
  EXPECT_GT(port, 0);
  EXPECT_LT(port, 65536);
}

TEST(DistLauncher, DropsTheNprocOptionInBothSpellings) {
  std::vector<std::string> a{"covscreen", "train", "--nproc", "2", "--out", "d", "--nproc=3", "--batch", "8"};
  EXPECT_EQ(drop_option(a, "--nproc"), (std::vector<std::string>{"covscreen", "train", "--out", "d", "--batch", "8"}));
  auto self = own_command_line();
  ASSERT_FALSE(self.empty());
  EXPECT_NE(self[0].find("tests_dist"), std::string::npos) << self[0];  // this test program
}

TEST(DistLauncher, PropagatesTheFirstFailureAndStopsTheOthers) {
  // Worker 0 fails at once; worker 1 would sleep for a minute: the launcher must kill it.
  const auto t0 = std::chrono::steady_clock::now();
  const int rc = launch_local({"/bin/sh", "-c", "if [ \"$RANK\" = 0 ]; then exit 7; else exec sleep 60; fi"}, {2, 0});
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(rc, 7);
  EXPECT_LT(secs, 30);
  EXPECT_EQ(launch_local({"/bin/sh", "-c", "test \"$WORLD_SIZE\" = 3 && test -n \"$MASTER_PORT\""}, {3, 0}), 0);
}

TEST(DistBackends, AvailabilityIsReportedConsistently) {
  EXPECT_EQ(unavailable_reason().empty(), have_gloo() || have_nccl());
}

TEST(DistWatchdog, FiresOnlyWhenAnArmedWaitOutlivesItsLimit) {
  std::atomic<int> fired{0};
  std::string message;
  std::mutex mu;
  {
    Watchdog w(std::chrono::milliseconds(300), "rank 1/2", [&](const std::string& m) {
      std::lock_guard<std::mutex> lock(mu);
      message = m;
      ++fired;
    });
    {
      Watchdog::Scope s(w, "a quick all-reduce");
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // disarmed: no firing
    EXPECT_EQ(fired.load(), 0);
    {
      Watchdog::Scope s(w, "a stuck all-reduce");
      std::this_thread::sleep_for(std::chrono::milliseconds(800));
    }
  }
  EXPECT_EQ(fired.load(), 1);
  EXPECT_NE(message.find("rank 1/2: a stuck all-reduce did not finish"), std::string::npos) << message;
}
