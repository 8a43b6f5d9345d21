#pragma once
// `covscreen train --nproc N`: a local launcher in the manner of torchrun. It starts N copies
// of a command (fork + exec) with MASTER_ADDR=127.0.0.1, MASTER_PORT (a free port unless
// given), WORLD_SIZE=N, RANK=LOCAL_RANK=i, LOCAL_WORLD_SIZE=N and, unless already set,
// OMP_NUM_THREADS = max(1, cores / N) (N workers on a machine must not each take every core).
// It waits for all of them; when one fails (non-zero exit or a signal) it sends SIGTERM to the
// rest, SIGKILL after `grace`, and returns the first failure's status (128 + signal for a
// signal), else 0.
#include <chrono>
#include <string>
#include <vector>

namespace covscreen::dist {

struct LaunchOptions {
  int nproc = 1;
  int master_port = 0;  // 0 = pick a free one
  std::chrono::milliseconds grace{std::chrono::seconds(5)};
};

int launch_local(const std::vector<std::string>& argv, const LaunchOptions& opt);

// This process's own command line (from /proc/self/cmdline), with argv[0] replaced by the path
// of the running executable (/proc/self/exe).
std::vector<std::string> own_command_line();

// `args` without the option `name` and its value (`--name V` or `--name=V`).
std::vector<std::string> drop_option(const std::vector<std::string>& args, const std::string& name);

}  // namespace covscreen::dist
