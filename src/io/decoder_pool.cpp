#include "covscreen/io/decoder_pool.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include "covscreen/core/cpu.h"
#include "covscreen/core/error.h"
#include "covscreen/core/log.h"
#include "covscreen/core/paths.h"
#include "covscreen/core/strings.h"
#include "covscreen/io/decoder_protocol.h"

extern char** environ;

namespace covscreen {
namespace fs = std::filesystem;

namespace {
using Clock = std::chrono::steady_clock;

const char* signal_name(int sig) {
  switch (sig) {
    case SIGABRT:
      return "SIGABRT";
    case SIGSEGV:
      return "SIGSEGV";
    case SIGBUS:
      return "SIGBUS";
    case SIGFPE:
      return "SIGFPE";
    case SIGILL:
      return "SIGILL";
    case SIGKILL:
      return "SIGKILL";
    case SIGTERM:
      return "SIGTERM";
    case SIGTRAP:
      return "SIGTRAP";
    default:
      return nullptr;
  }
}

// Waits until fd is ready for `events` or the deadline passes; false on timeout.
bool wait_fd(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1000)));
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return true;  // let read/write report the error
  }
}

enum class Io { kOk, kTimeout, kClosed };

Io write_all_until(int fd, const std::string& bytes, Clock::time_point deadline) {
  size_t put = 0;
  while (put < bytes.size()) {
    if (!wait_fd(fd, POLLOUT, deadline)) return Io::kTimeout;
    const ssize_t k = ::write(fd, bytes.data() + put, bytes.size() - put);
    if (k < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (k <= 0) return Io::kClosed;
    put += static_cast<size_t>(k);
  }
  return Io::kOk;
}

Io read_all_until(int fd, char* p, size_t n, Clock::time_point deadline) {
  size_t got = 0;
  while (got < n) {
    if (!wait_fd(fd, POLLIN, deadline)) return Io::kTimeout;
    const ssize_t k = ::read(fd, p + got, n - got);
    if (k < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (k <= 0) return Io::kClosed;
    got += static_cast<size_t>(k);
  }
  return Io::kOk;
}

std::string format_seconds(double s) { return format_number(s); }
}  // namespace

struct DecoderPool::Worker {
  pid_t pid = -1;
  int to_child = -1, from_child = -1;
};

std::string find_decoder_executable() {
  const auto usable = [](const fs::path& p) {
    std::error_code ec;
    return fs::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0;
  };
  if (const char* env = std::getenv("COVSCREEN_DECODER"); env && *env) return usable(env) ? env : "";
  if (const std::string self = executable_path(); !self.empty()) {
    const fs::path next_to_us = fs::path(self).parent_path() / "covscreen-decoder";
    if (usable(next_to_us)) return next_to_us.string();
  }
  if (const char* bin = std::getenv("COVSCREEN_BIN_DIR"); bin && *bin && usable(fs::path(bin) / "covscreen-decoder"))
    return (fs::path(bin) / "covscreen-decoder").string();
  return "";
}

DecoderPool::DecoderPool(DecoderPoolOptions opt) : opt_(std::move(opt)) {
  if (opt_.processes <= 0) opt_.processes = std::max(2, usable_cpus());
  if (!(opt_.timeout_s > 0)) throw UsageError("decoder: the time limit must be positive");
  if (opt_.executable.empty()) opt_.executable = find_decoder_executable();
  if (opt_.executable.empty()) {
    if (opt_.require_isolation)
      throw Error("the decoder program covscreen-decoder was not found (set COVSCREEN_DECODER)");
    log_warning(
        "covscreen-decoder not found; decoding in this process, where a crashing file can end the run (set "
        "COVSCREEN_DECODER)");
    return;
  }
  // A decoder that dies makes writes to its pipe fail with EPIPE instead of killing us.
  ::signal(SIGPIPE, SIG_IGN);
  for (int i = 0; i < opt_.processes; ++i) {
    workers_.push_back(std::make_unique<Worker>());
    start(*workers_.back());
    idle_.push_back(workers_.back().get());
  }
}

DecoderPool::~DecoderPool() {
  for (auto& w : workers_) stop(*w, false);
}

void DecoderPool::start(Worker& w) {
  int req[2], rep[2];
  if (::pipe2(req, O_CLOEXEC) != 0) throw Error(std::string("decoder: pipe failed: ") + std::strerror(errno));
  if (::pipe2(rep, O_CLOEXEC) != 0) {
    ::close(req[0]), ::close(req[1]);
    throw Error(std::string("decoder: pipe failed: ") + std::strerror(errno));
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, req[0], 0);
  posix_spawn_file_actions_adddup2(&fa, rep[1], 1);
  const std::string limit = std::to_string(opt_.memory_limit_bytes);
  const std::string parent = std::to_string(::getpid());
  std::vector<char*> argv = {const_cast<char*>(opt_.executable.c_str()), const_cast<char*>("--memory-limit"),
                             const_cast<char*>(limit.c_str()),           const_cast<char*>("--parent"),
                             const_cast<char*>(parent.c_str()),          nullptr};
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, opt_.executable.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(req[0]);
  ::close(rep[1]);
  if (rc != 0) {
    ::close(req[1]), ::close(rep[0]);
    throw Error("decoder: cannot start " + opt_.executable + ": " + std::strerror(rc));
  }
  ::fcntl(req[1], F_SETFL, ::fcntl(req[1], F_GETFL) | O_NONBLOCK);
  ::fcntl(rep[0], F_SETFL, ::fcntl(rep[0], F_GETFL) | O_NONBLOCK);
  w.pid = pid;
  w.to_child = req[1];
  w.from_child = rep[0];
}

int DecoderPool::reap(Worker& w) {
  if (w.pid <= 0) return -1;
  int st = 0;
  const auto until = Clock::now() + std::chrono::seconds(2);
  pid_t r;
  while ((r = ::waitpid(w.pid, &st, WNOHANG)) == 0) {
    if (Clock::now() > until) {
      ::kill(w.pid, SIGKILL);
      r = ::waitpid(w.pid, &st, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  w.pid = -1;
  return r > 0 ? st : -1;
}

void DecoderPool::stop(Worker& w, bool kill_now) {
  if (w.to_child >= 0) ::close(w.to_child);  // EOF: an idle decoder exits by itself
  if (w.from_child >= 0) ::close(w.from_child);
  w.to_child = w.from_child = -1;
  if (kill_now && w.pid > 0) ::kill(w.pid, SIGKILL);
  reap(w);
}

DecoderPool::Worker* DecoderPool::acquire() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return !idle_.empty(); });
  Worker* w = idle_.back();
  idle_.pop_back();
  return w;
}

void DecoderPool::release(Worker* w) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    idle_.push_back(w);
  }
  cv_.notify_one();
}

DecodedImage DecoderPool::run(bool is_path, const std::string& data, const std::string& name, const ReadOptions& opt) {
  if (workers_.empty()) return is_path ? read_image(data, opt) : decode_image(data, name, opt);
  decoder::Request req;
  req.is_path = is_path;
  req.name = name;
  req.data = data;
  req.read = opt;
  const std::string payload = decoder::encode_request(req);
  const std::string out = decoder::frame_header(payload.size()) + payload;

  Worker* w = acquire();
  struct Release {  // back to the idle list however this ends
    DecoderPool* pool;
    Worker* w;
    ~Release() { pool->release(w); }
  } release_on_exit{this, w};
  if (w->pid <= 0) start(*w);  // a restart that failed earlier: try again (throws Error)

  const auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt_.timeout_s));
  Io io = write_all_until(w->to_child, out, deadline);
  std::string head(8, '\0'), reply;
  if (io == Io::kOk) io = read_all_until(w->from_child, head.data(), 8, deadline);
  if (io == Io::kOk) {
    try {
      reply.assign(static_cast<size_t>(decoder::frame_size(head)), '\0');
    } catch (const decoder::ProtocolError& e) {
      stop(*w, true);
      start(*w);
      ++restarts_;
      throw FileError(name, std::string("the decoder answered nonsense (") + e.what() + ")");
    }
    io = read_all_until(w->from_child, reply.data(), reply.size(), deadline);
  }
  if (io == Io::kTimeout) {
    ++timeouts_;
    stop(*w, true);
    start(*w);
    ++restarts_;
    throw FileError(name,
                    "decoding took longer than " + format_seconds(opt_.timeout_s) + " s (the decoder was stopped)");
  }
  if (io == Io::kClosed) {
    ++crashes_;
    // The decoder died (or closed its pipe): how?
    const int st = reap(*w);
    std::string how = "stopped answering";
    if (st >= 0 && WIFSIGNALED(st)) {
      const char* sn = signal_name(WTERMSIG(st));
      how = std::string("crashed (") + (sn ? sn : "signal " + std::to_string(WTERMSIG(st))) + ")";
    } else if (st >= 0 && WIFEXITED(st)) {
      how = "exited with status " + std::to_string(WEXITSTATUS(st));
    }
    stop(*w, true);
    start(*w);
    ++restarts_;
    throw FileError(name, "decoder " + how + " while reading this file");
  }
  decoder::Reply r;
  try {
    r = decoder::decode_reply(reply);
  } catch (const decoder::ProtocolError& e) {
    stop(*w, true);
    start(*w);
    ++restarts_;
    throw FileError(name, std::string("the decoder answered nonsense (") + e.what() + ")");
  }
  ++decoded_;
  if (!r.ok) {
    if (r.file_error) throw FileError(name, r.message);
    throw Error(name + ": " + r.message);
  }
  return std::move(r.image);
}

DecodedImage DecoderPool::read(const std::string& path, const ReadOptions& opt) { return run(true, path, path, opt); }

DecodedImage DecoderPool::decode(const std::string& bytes, const std::string& name, const ReadOptions& opt) {
  return run(false, bytes, name, opt);
}

DecoderStats DecoderPool::stats() const {
  DecoderStats s;
  s.decoded = decoded_;
  s.crashes = crashes_;
  s.timeouts = timeouts_;
  s.restarts = restarts_;
  s.isolated = !workers_.empty();
  return s;
}

DecoderPool& default_decoder_pool() {
  static DecoderPool pool([] {
    DecoderPoolOptions o;
    if (const char* t = std::getenv("COVSCREEN_DECODE_TIMEOUT_S"); t && *t) o.timeout_s = std::atof(t);
    if (const char* m = std::getenv("COVSCREEN_DECODER_MEMORY_MB"); m && *m)
      o.memory_limit_bytes = std::atoll(m) * (int64_t(1) << 20);
    return o;
  }());
  return pool;
}

}  // namespace covscreen
