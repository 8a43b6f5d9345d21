#include "covscreen/dist/launcher.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <thread>

#include "covscreen/core/error.h"
#include "covscreen/core/log.h"
#include "covscreen/core/paths.h"
#include "covscreen/dist/rendezvous.h"

namespace covscreen::dist {

std::vector<std::string> own_command_line() {
  std::ifstream f("/proc/self/cmdline", std::ios::binary);
  if (!f) throw Error("launcher: cannot read /proc/self/cmdline");
  std::vector<std::string> args;
  std::string a;
  while (std::getline(f, a, '\0')) args.push_back(a);
  if (args.empty()) throw Error("launcher: empty /proc/self/cmdline");
  if (std::string exe = executable_path(); !exe.empty()) args[0] = std::move(exe);
  return args;
}

std::vector<std::string> drop_option(const std::vector<std::string>& args, const std::string& name) {
  std::vector<std::string> out;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == name) {
      ++i;  // and its value
      continue;
    }
    if (args[i].rfind(name + "=", 0) == 0) continue;
    out.push_back(args[i]);
  }
  return out;
}

namespace {

int status_code(int st) {
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return 1;
}

void signal_all(const std::vector<pid_t>& pids, const std::vector<char>& alive, int sig) {
  for (size_t i = 0; i < pids.size(); ++i)
    if (alive[i]) ::kill(pids[i], sig);
}

}  // namespace

int launch_local(const std::vector<std::string>& argv, const LaunchOptions& opt) {
  if (opt.nproc < 1) throw UsageError("--nproc must be >= 1");
  if (argv.empty()) throw UsageError("launcher: no command");
  const int port = opt.master_port > 0 ? opt.master_port : free_local_port();
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const std::string threads = std::to_string(std::max(1u, cores / static_cast<unsigned>(opt.nproc)));
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);

  std::vector<pid_t> pids;
  std::vector<char> alive;
  for (int r = 0; r < opt.nproc; ++r) {
    const pid_t pid = ::fork();
    if (pid < 0) {
      signal_all(pids, alive, SIGKILL);
      for (pid_t p : pids) ::waitpid(p, nullptr, 0);
      throw Error(std::string("launcher: fork failed: ") + std::strerror(errno));
    }
    if (pid == 0) {
      ::setenv("MASTER_ADDR", "127.0.0.1", 1);
      ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(opt.nproc).c_str(), 1);
      ::setenv("RANK", std::to_string(r).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
      ::setenv("LOCAL_WORLD_SIZE", std::to_string(opt.nproc).c_str(), 1);
      ::setenv("OMP_NUM_THREADS", threads.c_str(), 0);
      ::execv(cargv[0], cargv.data());
      std::fprintf(stderr, "launcher: cannot run %s: %s\n", cargv[0], std::strerror(errno));
      std::_Exit(127);
    }
    pids.push_back(pid);
    alive.push_back(1);
  }
  log_info("launcher: started " + std::to_string(opt.nproc) + " workers on 127.0.0.1:" + std::to_string(port));

  int result = 0, running = opt.nproc;
  bool failing = false;
  auto kill_deadline = std::chrono::steady_clock::time_point::max();
  while (running > 0) {
    int st = 0;
    const pid_t pid = ::waitpid(-1, &st, failing ? WNOHANG : 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      break;  // no children left
    }
    if (pid == 0) {  // failing: some still running
      if (std::chrono::steady_clock::now() >= kill_deadline) {
        signal_all(pids, alive, SIGKILL);
        kill_deadline = std::chrono::steady_clock::time_point::max();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    size_t i = 0;
    while (i < pids.size() && pids[i] != pid) ++i;
    if (i == pids.size()) continue;
    alive[i] = 0;
    --running;
    const int code = status_code(st);
    if (code != 0 && !failing) {
      failing = true;
      result = code;
      log_info("launcher: rank " + std::to_string(i) + " failed (exit status " + std::to_string(code) +
               "); stopping the other " + std::to_string(running) + " worker(s)");
      signal_all(pids, alive, SIGTERM);
      kill_deadline = std::chrono::steady_clock::now() + opt.grace;
    }
  }
  return result;
}

}  // namespace covscreen::dist
