// Crash-safe training: `covscreen train` killed with SIGKILL at random (seeded) moments and
// continued with `--resume` ends with the same files as an uninterrupted run: last.ckpt and
// best.ckpt load, log.jsonl has exactly one parseable line per epoch, no temporary files are
// left, and the weights equal the uninterrupted run's (resume is exact at epoch boundaries).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "cli_util.h"
#include "covscreen/data/pack.h"
#include "covscreen/models/checkpoint.h"
#include "synthetic_pack.h"

namespace covscreen {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
constexpr int kEpochs = 3;

// Starts `covscreen <args...>` with stdout/stderr appended to `log`; returns the child's pid.
pid_t spawn(const std::vector<std::string>& args, const std::string& log) {
  const std::string bin = test::bin_dir() + "/covscreen";
  std::vector<char*> argv{const_cast<char*>(bin.c_str())};
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    FILE* f = std::freopen(log.c_str(), "a", stdout);
    if (f) ::dup2(::fileno(stdout), 2);
    ::execv(bin.c_str(), argv.data());
    ::_exit(127);
  }
  return pid;
}

// Waits for `pid`, killing it with SIGKILL after `kill_after` seconds (< 0: never, but at most
// `limit` seconds). Returns the exit code, or -signal when it was killed.
int wait_or_kill(pid_t pid, double kill_after, double limit) {
  const auto t0 = Clock::now();
  for (;;) {
    int st = 0;
    if (::waitpid(pid, &st, WNOHANG) == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
    const double t = std::chrono::duration<double>(Clock::now() - t0).count();
    if ((kill_after >= 0 && t >= kill_after) || t >= limit) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &st, 0);
      if (WIFEXITED(st)) return WEXITSTATUS(st);  // it finished just before the signal
      return t >= limit && kill_after < 0 ? -1000 : -WTERMSIG(st);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

class TrainCrash : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::have_cli()) COVSCREEN_SKIP() << "the covscreen CLI was not built (needs OpenCV + GDCM)";
    write_pack(dir_.file("train.pack"), test::synthetic_pack(8, 64, 1));
    write_pack(dir_.file("val.pack"), test::synthetic_pack(4, 64, 2));
  }
  std::vector<std::string> args(const std::string& out, bool resume) const {
    std::vector<std::string> a{"train",
                               "--model",
                               "densenet121",
                               "--train",
                               dir_.file("train.pack"),
                               "--val",
                               dir_.file("val.pack"),
                               "--out",
                               out,
                               "--epochs",
                               std::to_string(kEpochs),
                               "--batch",
                               "4",
                               "--lr",
                               "1e-3",
                               "--seed",
                               "7",
                               "--device",
                               "cpu",
                               "--threads",
                               "1"};
    if (resume) a.push_back("--resume");
    return a;
  }
  test::TempDir dir_;
};

std::vector<nlohmann::json> read_log(const std::string& path) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(path);
  for (std::string l; std::getline(in, l);) {
    try {
      lines.push_back(nlohmann::json::parse(l));
    } catch (const std::exception& e) {
      ADD_FAILURE() << path << ": unparseable line '" << l << "': " << e.what();
    }
  }
  return lines;
}

double max_weight_diff(const Checkpoint& a, const Checkpoint& b) {
  auto pa = a.net->named_parameters(true), pb = b.net->named_parameters(true);
  double d = 0;
  for (const auto& p : pa) d = std::max(d, (p.value() - pb[p.key()]).abs().max().item<double>());
  return d;
}

TEST_F(TrainCrash, KilledAtRandomMomentsAndResumedEndsLikeAnUninterruptedRun) {
  // The uninterrupted run gives the reference weights and the run's length.
  const std::string ref = dir_.file("reference");
  const auto t0 = Clock::now();
  ASSERT_EQ(wait_or_kill(spawn(args(ref, false), dir_.file("reference.log")), -1, 300), 0)
      << test::slurp(dir_.file("reference.log"));
  const double length = std::chrono::duration<double>(Clock::now() - t0).count();
  const Checkpoint want = load_checkpoint(ref + "/last.ckpt");

  std::mt19937 rng(20260127);
  std::uniform_real_distribution<double> when(0.2, std::max(0.3, length));
  for (int iter = 0; iter < 3; ++iter) {
    SCOPED_TRACE("iteration " + std::to_string(iter));
    const std::string out = dir_.file("run" + std::to_string(iter)), log = out + ".log";
    std::vector<std::string> what;
    // Two kills (the first into a fresh run, the second into a resumed one), then a resume to the end.
    for (int k = 0; k < 2; ++k) {
      const double at = when(rng);
      const int rc = wait_or_kill(spawn(args(out, k > 0), log), at, 300);
      what.push_back("killed at " + std::to_string(at) + " s: rc " + std::to_string(rc));
      ASSERT_TRUE(rc == 0 || rc == -SIGKILL) << what.back() << "\n" << test::slurp(log);
    }
    const int rc = wait_or_kill(spawn(args(out, true), log), -1, 300);
    ASSERT_EQ(rc, 0) << testing::PrintToString(what) << "\n" << test::slurp(log);

    const Checkpoint last = load_checkpoint(out + "/last.ckpt");
    EXPECT_EQ(last.training.value("epoch", -1), kEpochs - 1);
    EXPECT_NO_THROW(load_checkpoint(out + "/best.ckpt"));
    EXPECT_LT(max_weight_diff(last, want), 1e-5) << testing::PrintToString(what);
    const auto lines = read_log(out + "/log.jsonl");
    ASSERT_EQ(lines.size(), size_t(kEpochs)) << test::slurp(out + "/log.jsonl");
    for (int e = 0; e < kEpochs; ++e) EXPECT_EQ(lines[e].value("epoch", -1), e + 1);
    nlohmann::json config;
    EXPECT_NO_THROW(config = nlohmann::json::parse(test::slurp(out + "/config.json")));
    for (const auto& f : fs::directory_iterator(out))
      EXPECT_EQ(f.path().filename().string().find(".tmp-"), std::string::npos) << f.path();
  }
}

TEST_F(TrainCrash, ResumeStartsFromEpochOneWhenTheRunDiedBeforeItsFirstCheckpoint) {
  const std::string out = dir_.file("early");
  fs::create_directories(out);
  std::ofstream(out + "/log.jsonl") << "{\"epoch\": 1, \"lo";             // a half-written line
  std::ofstream(out + "/last.ckpt.tmp-99999") << std::string(1000, 'x');  // a killed write
  std::ofstream(out + "/config.json.tmp-99999") << "{";
  const test::CliRun r = test::run_cli("train --model densenet121 --train '" + dir_.file("train.pack") + "' --out '" +
                                           out + "' --epochs 1 --batch 4 --seed 7 --device cpu --threads 1 --resume",
                                       dir_);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("from epoch 1"), std::string::npos) << r.err;
  EXPECT_EQ(load_checkpoint(out + "/last.ckpt").training.value("epoch", -1), 0);
  EXPECT_EQ(read_log(out + "/log.jsonl").size(), 1u);
  EXPECT_FALSE(fs::exists(out + "/last.ckpt.tmp-99999"));
  EXPECT_FALSE(fs::exists(out + "/config.json.tmp-99999"));
  // A folder that does not exist at all is still a usage error (a mistyped --out).
  const test::CliRun missing =
      test::run_cli("train --model densenet121 --train '" + dir_.file("train.pack") + "' --out '" +
                        dir_.file("nowhere") + "' --epochs 1 --device cpu --resume",
                    dir_);
  EXPECT_EQ(missing.rc, 1) << missing.err;
  EXPECT_NE(missing.err.find("to resume from"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace covscreen
