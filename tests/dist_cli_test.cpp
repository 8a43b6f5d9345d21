// Data-parallel training end to end through the CLI, on loopback with gloo:
//  - `covscreen train --nproc 2 --batch 8` ends with the same weights as one process with
//    --batch 16 (frozen batch norm, augmentation on: per-sample draws follow the global
//    position, not the rank), and, as a control, with per-rank batch norm it does not;
//  - a 2-rank job stopped after epoch 1 and resumed ends as the uninterrupted job;
//  - killing one rank (or freezing it) ends the other with an error within the timeout.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "cli_util.h"
#include "covscreen/data/pack.h"
#include "covscreen/dist/process_group.h"
#include "covscreen/dist/rendezvous.h"
#include "synthetic_pack.h"

using namespace covscreen;
using covscreen::test::TempDir;

namespace {

using test::synthetic_pack;

struct Diff {
  double max = 0;   // max |w_a - w_b| over all weights
  double over = 0;  // fraction of weights with |w_a - w_b| > 1e-5
};

Diff param_diff(const std::string& a, const std::string& b) {
  Checkpoint ca = load_checkpoint(a), cb = load_checkpoint(b);
  auto pa = ca.net->named_parameters(true), pb = cb.net->named_parameters(true);
  EXPECT_EQ(pa.size(), pb.size());
  double d = 0;
  std::string worst;
  int64_t over = 0, total = 0;
  for (const auto& p : pa) {
    auto diff = (p.value() - pb[p.key()]).abs();
    over += (diff > 1e-5).sum().item<int64_t>();
    total += diff.numel();
    const double m = diff.max().item<double>();
    if (m > d) d = m, worst = p.key();
  }
  std::cerr << "  " << a << " vs " << b << ": max |diff| " << d << " at " << worst << "; " << over << " of " << total
            << " weights differ by > 1e-5\n";
  return {d, static_cast<double>(over) / std::max<int64_t>(total, 1)};
}

int count_lines(const std::string& path) {
  std::ifstream f(path);
  int n = 0;
  for (std::string l; std::getline(f, l);) ++n;
  return n;
}

// Runs shared by the tests below: 32 images of 32 x 32, DenseNet-121, 2 epochs of 2 steps.
class DistCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!test::have_cli() || !dist::have_gloo()) return;
    dir_ = new TempDir;
    pack_ = dir_->file("train.pack");
    write_pack(pack_, synthetic_pack(32, 32, 1));
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!test::have_cli()) COVSCREEN_SKIP() << "covscreen binary not built";
    if (!dist::have_gloo()) COVSCREEN_SKIP() << dist::unavailable_reason();
  }
  static std::string train_args(const std::string& out, int epochs, int batch, const std::string& bn,
                                const std::string& lr = "1e-4") {
    return "train --model densenet121 --train '" + pack_ + "' --out '" + out + "' --epochs " + std::to_string(epochs) +
           " --batch " + std::to_string(batch) + " --lr " + lr + " --seed 7 --device cpu --threads 1 --bn " + bn +
           " --dist-timeout 60";
  }
  // Trains once per key and returns the run folder.
  static std::string run(const std::string& key, const std::string& args) {
    const std::string out = dir_->file(key);
    test::CliRun r = test::run_cli(args, *dir_);
    EXPECT_EQ(r.rc, 0) << key << ": " << r.err;
    return out;
  }
  static std::string single(const std::string& bn) {
    const std::string key = "single-" + bn;
    static std::map<std::string, std::string> done;
    if (!done.count(key)) done[key] = run(key, train_args(dir_->file(key), 2, 16, bn));
    return done[key];
  }
  static std::string two_ranks(const std::string& bn) {
    const std::string key = "nproc2-" + bn;
    static std::map<std::string, std::string> done;
    if (!done.count(key)) done[key] = run(key, train_args(dir_->file(key), 2, 8, bn) + " --nproc 2");
    return done[key];
  }
  static TempDir* dir_;
  static std::string pack_;
};
TempDir* DistCli::dir_ = nullptr;
std::string DistCli::pack_;

}  // namespace

// Why not max |diff| < 1e-5 over every weight: Adam moves a weight by about lr * sign(g) in its
// first steps whatever |g| is, so the few weights whose gradient is zero up to float rounding
// (a batch of 16 sums in another order than two batches of 8 plus an all-reduce) can step
// opposite ways: measured, 120 of 6.96 M weights differ by 1e-4 (= lr) and the rest agree;
// per-rank batch norm (the control below) makes 6.2 M of them differ. So: almost every weight
// within 1e-5, and none further apart than such sign flips can take them (2 * lr * steps).
constexpr double kLr = 1e-4, kSteps = 4;

TEST_F(DistCli, TwoRanksOfBatch8EndAsOneProcessOfBatch16WithFrozenBatchNorm) {
  const std::string one = single("frozen"), two = two_ranks("frozen");
  const Diff d = param_diff(one + "/last.ckpt", two + "/last.ckpt");
  EXPECT_LT(d.over, 1e-4);
  EXPECT_LE(d.max, 2 * kLr * kSteps);
  // Only rank 0 wrote the log: one line per epoch, not one per rank.
  EXPECT_EQ(count_lines(two + "/log.jsonl"), 2);
  // Training moved the weights (the comparison is not between two untouched models).
  const std::string init = run("init", train_args(dir_->file("init"), 1, 16, "frozen", "1e-9"));
  EXPECT_GT(param_diff(one + "/last.ckpt", init + "/last.ckpt").over, 0.1);
}

TEST_F(DistCli, WithPerRankBatchNormTheBatchStatisticsDiffer) {
  // The control: batch statistics over 8 samples are not those over 16, so the weights part.
  const Diff d = param_diff(single("local") + "/last.ckpt", two_ranks("local") + "/last.ckpt");
  EXPECT_GT(d.over, 0.1);
}

TEST_F(DistCli, AResumedTwoRankJobEndsAsTheUninterruptedOne) {
  const std::string straight = two_ranks("frozen");
  const std::string out = dir_->file("resumed");
  run("resumed", train_args(out, 1, 8, "frozen") + " --nproc 2");
  EXPECT_EQ(count_lines(out + "/log.jsonl"), 1);
  run("resumed", train_args(out, 2, 8, "frozen") + " --nproc 2 --resume");
  EXPECT_EQ(count_lines(out + "/log.jsonl"), 2);
  EXPECT_EQ(load_checkpoint(out + "/last.ckpt").training["epoch"], 1);
  // The same ranks and batches in the same order: resumed at an epoch boundary it is exact.
  EXPECT_LT(param_diff(straight + "/last.ckpt", out + "/last.ckpt").max, 1e-6);
}

namespace {

struct Worker {
  pid_t pid = -1;
  std::string err;  // its stderr file
};

Worker start_rank(int rank, int port, const std::string& args, const TempDir& dir) {
  Worker w;
  w.err = dir.file("rank" + std::to_string(rank) + ".err");
  const std::string cmd = "exec '" + test::bin_dir() + "/covscreen' " + args + " >/dev/null 2>'" + w.err + "'";
  w.pid = ::fork();
  if (w.pid == 0) {
    ::setenv("WORLD_SIZE", "2", 1);
    ::setenv("RANK", std::to_string(rank).c_str(), 1);
    ::setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
    ::setenv("MASTER_ADDR", "127.0.0.1", 1);
    ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
    ::setenv("OMP_NUM_THREADS", "1", 1);
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    std::_Exit(127);
  }
  return w;
}

// Waits up to `limit` for the worker; returns its exit status, or -1 if still running.
int wait_for(const Worker& w, std::chrono::seconds limit, double* seconds) {
  const auto t0 = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - t0 < limit) {
    int st = 0;
    if (::waitpid(w.pid, &st, WNOHANG) == w.pid) {
      *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return -1;
}

bool wait_for_text(const std::string& file, const std::string& text, std::chrono::seconds limit) {
  const auto t0 = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - t0 < limit) {
    if (test::slurp(file).find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

// Starts a long 2-rank job, does `to_rank1` to rank 1 once training runs, and checks that
// rank 0 fails with a clear error within `within` seconds.
void check_peer_failure(const std::string& pack, int signal, int timeout_s, double within) {
  TempDir dir;
  const int port = dist::free_local_port();
  const std::string args = "train --model densenet121 --train '" + pack + "' --out '" + dir.file("run") +
                           "' --epochs 1000 --batch 4 --device cpu --bn frozen --dist-timeout " +
                           std::to_string(timeout_s);
  Worker r0 = start_rank(0, port, args, dir), r1 = start_rank(1, port, args, dir);
  const bool joined = wait_for_text(r1.err, "joined", std::chrono::seconds(60)) &&
                      wait_for_text(r0.err, "joined", std::chrono::seconds(10));
  if (joined) std::this_thread::sleep_for(std::chrono::seconds(2));  // into the training steps
  ::kill(r1.pid, signal);
  double secs = 0;
  const int rc = wait_for(r0, std::chrono::seconds(static_cast<int>(within) + 30), &secs);
  ::kill(r1.pid, SIGKILL);
  ::kill(r1.pid, SIGCONT);
  ::waitpid(r1.pid, nullptr, 0);
  if (rc == -1) {
    ::kill(r0.pid, SIGKILL);
    ::waitpid(r0.pid, nullptr, 0);
  }
  ASSERT_TRUE(joined) << test::slurp(r0.err) << test::slurp(r1.err);
  ASSERT_NE(rc, -1) << "rank 0 still running after rank 1 got signal " << signal;
  EXPECT_NE(rc, 0);
  EXPECT_LT(secs, within) << "rank 0 took " << secs << " s to notice";
  const std::string err = test::slurp(r0.err);
  EXPECT_NE(err.find("rank 0/2"), std::string::npos) << err;
  EXPECT_NE(err.find("error"), std::string::npos) << err;
  std::cerr << "rank 0 ended " << secs << " s after rank 1 got signal " << signal << ": "
            << err.substr(err.rfind("covscreen: error") == std::string::npos ? 0 : err.rfind("covscreen: error"))
            << "\n";
}

}  // namespace

TEST_F(DistCli, KillingOneRankEndsTheOtherWithAnErrorWithinTheTimeout) { check_peer_failure(pack_, SIGKILL, 20, 20); }

TEST_F(DistCli, AFrozenRankEndsTheOtherWithAnErrorWithinTheTimeout) {
  // SIGSTOP: the peer's sockets stay open, so only the timeout can end the wait.
  check_peer_failure(pack_, SIGSTOP, 5, 5 + 10 + 10);
}

TEST_F(DistCli, TheLauncherPropagatesAWorkerFailure) {
  TempDir dir;
  test::CliRun r =
      test::run_cli("train --train '" + dir.file("missing.pack") + "' --out '" + dir.file("o") + "' --nproc 2", dir);
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_NE(r.err.find("launcher: rank"), std::string::npos) << r.err;
}
