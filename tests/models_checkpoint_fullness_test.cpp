// A full disk while a checkpoint is written: in a forked child the file size limit
// (RLIMIT_FSIZE, SIGXFSZ ignored) makes write() fail with EFBIG part-way through, as ENOSPC
// would. The previous checkpoint must stay intact and loadable, no temporary file may be left,
// and the error must name the file and say the previous one was kept.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <thread>

#include "checkpoint_fixture.h"
#include "covscreen/core/container.h"
#include "covscreen/core/error.h"
#include "covscreen/models/checkpoint.h"
#include "test_util.h"

namespace covscreen {
namespace {

namespace fs = std::filesystem;

Checkpoint tiny_checkpoint(uint64_t seed) { return test::untrained_checkpoint(seed, 32); }

// Runs `write` in a child limited to `limit` bytes per file; returns what the child reported:
// the error message it caught, or "NO ERROR" / "WRONG ERROR: ..." / "CHILD DIED".
std::string write_with_file_limit(uint64_t limit, const std::string& report, const std::function<void()>& write) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    std::string msg = "NO ERROR";
    rlimit rl{};
    ::getrlimit(RLIMIT_FSIZE, &rl);
    const rlim_t hard = rl.rlim_max;
    rl.rlim_cur = limit;  // the soft limit only, so that it can be lifted again below
    if (::setrlimit(RLIMIT_FSIZE, &rl) != 0) ::_exit(3);
    try {
      write();
    } catch (const FileError& e) {
      msg = e.what();
    } catch (const std::exception& e) {
      msg = std::string("WRONG ERROR: ") + e.what();
    }
    rl.rlim_cur = hard;
    ::setrlimit(RLIMIT_FSIZE, &rl);
    std::ofstream(report) << msg << std::flush;
    ::_exit(0);
  }
  const auto t0 = std::chrono::steady_clock::now();
  int st = 0;
  while (::waitpid(pid, &st, WNOHANG) != pid) {
    if (std::chrono::steady_clock::now() - t0 > std::chrono::seconds(120)) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &st, 0);
      return "CHILD HUNG";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) return "CHILD DIED";
  std::ifstream in(report);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::vector<std::string> temporaries(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp-") != std::string::npos) out.push_back(e.path().string());
  return out;
}

class CheckpointFullDisk : public ::testing::Test {
 protected:
  void SetUp() override { torch::set_num_threads(1); }  // no thread pool to inherit across fork()
  test::TempDir dir_;
};

TEST_F(CheckpointFullDisk, APartialWriteKeepsThePreviousCheckpoint) {
  const fs::path data = dir_.path() / "data";
  fs::create_directories(data);
  const std::string path = (data / "last.ckpt").string();
  save_checkpoint(path, tiny_checkpoint(1));
  const std::string before = read_file(path);
  const Checkpoint next = tiny_checkpoint(2);
  for (uint64_t limit : {uint64_t(0), uint64_t(100), uint64_t(before.size() / 2), uint64_t(before.size() - 1)}) {
    SCOPED_TRACE("file size limit " + std::to_string(limit));
    const std::string msg = write_with_file_limit(limit, dir_.file("report.txt"), [&] { save_checkpoint(path, next); });
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find("previous file kept"), std::string::npos) << msg;
    EXPECT_NE(msg.find("File too large"), std::string::npos) << msg;
    EXPECT_EQ(read_file(path), before);
    EXPECT_NO_THROW(load_checkpoint(path));
    EXPECT_TRUE(temporaries(data).empty()) << testing::PrintToString(temporaries(data));
  }
  // Without the limit the same write succeeds and replaces the file.
  save_checkpoint(path, next);
  EXPECT_NE(read_file(path), before);
  EXPECT_NO_THROW(load_checkpoint(path));
}

TEST_F(CheckpointFullDisk, ContainersAndSmallFilesToo) {
  const fs::path data = dir_.path() / "data";
  fs::create_directories(data);
  Container c;
  c.magic = std::string("CVSTEST\0", 8);
  c.header = {{"what", "before"}};
  c.blobs["x"] = std::string(1 << 16, 'a');
  const std::string pack = (data / "a.container").string(), json = (data / "config.json").string();
  write_container(pack, c);
  write_file_atomic(json, "{\"seed\": 1}\n");
  c.header["what"] = "after";
  c.blobs["x"] = std::string(1 << 17, 'b');
  std::string msg = write_with_file_limit(1 << 15, dir_.file("r1.txt"), [&] { write_container(pack, c); });
  EXPECT_NE(msg.find("previous file kept"), std::string::npos) << msg;
  EXPECT_EQ(read_container(pack, c.magic, 1, "test container").header["what"], "before");
  msg = write_with_file_limit(4, dir_.file("r2.txt"), [&] { write_file_atomic(json, "{\"seed\": 2}\n"); });
  EXPECT_NE(msg.find("previous file kept"), std::string::npos) << msg;
  EXPECT_EQ(read_file(json), "{\"seed\": 1}\n");
  EXPECT_TRUE(temporaries(data).empty()) << testing::PrintToString(temporaries(data));
}

}  // namespace
}  // namespace covscreen
