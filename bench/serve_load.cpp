// Load test of `covscreen serve` on loopback: N requests at concurrency C (cpp-httplib clients on
// C threads) mixing valid COVID-CT PNG/JPEG files (raw, multipart, ?cam=1) with corrupt bodies
// (truncated, garbage, text, empty, decompression bomb); see bench/load/load_client.h for the mix and the
// checks. Prints one JSON object: requests/s, latency percentiles overall and per kind of
// request, status counts, contract checks, server RSS at start/mid/end and its peak.
//
// Usage: bench_serve_load [--model M] [--data DIR] [--requests 2000] [--concurrency 16]
//                         [--files 48] [--warmup 32] [--seed 1] [--time-limit 900]
//                         [--spawn path/to/covscreen]   (default: the server runs in this process)
//                         [--cam-weight W]   (weight of ?cam=1 requests; 0: none, as `covscreen bench`)
//                         [--queue 64] [--batch 4] [--workers 0] [--http-threads 32] [--threads 0]
// --data: a folder with CT_COVID/ and CT_NonCOVID/ (default <datasets>/COVID-CT/Images-processed).
// Exit status: 0 when every check held (no transport errors, no 5xx other than 503 for valid files,
// every corrupt file a 4xx JSON, server alive), 2 when one failed, 1 on a usage error.
#include <signal.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "covscreen/core/error.h"
#include "covscreen/core/paths.h"
#include "covscreen/models/checkpoint.h"
#include "covscreen/serve/server.h"
#include "load/load_client.h"

using namespace covscreen;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// The first `n` files with extension `ext` (sorted), alternating between the class folders.
std::vector<LoadFile> load_files(const fs::path& root, const std::string& ext, size_t n) {
  std::vector<std::vector<fs::path>> per_dir;
  for (const char* d : {"CT_COVID", "CT_NonCOVID"}) {
    std::vector<fs::path> v;
    if (fs::is_directory(root / d))
      for (const auto& e : fs::directory_iterator(root / d))
        if (e.is_regular_file() && e.path().extension() == ext) v.push_back(e.path());
    std::sort(v.begin(), v.end());
    per_dir.push_back(v);
  }
  std::vector<LoadFile> out;
  for (size_t i = 0; out.size() < n; ++i) {
    bool any = false;
    for (const auto& v : per_dir)
      if (i < v.size() && out.size() < n) out.push_back({v[i].filename().string(), slurp(v[i])}), any = true;
    if (!any) break;
  }
  return out;
}

// `covscreen serve` in a child process on an ephemeral port; stderr drained on a thread.
struct Child {
  pid_t pid = -1;
  int port = 0;
  std::thread drain;
  std::string log;

  void start(const std::vector<std::string>& argv) {
    int fd[2];
    if (pipe(fd) != 0) throw Error("pipe failed");
    pid = fork();
    if (pid < 0) throw Error("fork failed");
    if (pid == 0) {
      dup2(fd[1], 2);
      close(fd[0]);
      close(fd[1]);
      std::vector<char*> a;
      for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
      a.push_back(nullptr);
      execv(a[0], a.data());
      _exit(127);
    }
    close(fd[1]);
    FILE* err = fdopen(fd[0], "r");
    char buf[4096];
    const std::regex re("on http://[^:]+:([0-9]+)/");
    while (fgets(buf, sizeof buf, err)) {
      log += buf;
      std::smatch m;
      std::string line = buf;
      if (std::regex_search(line, m, re)) {
        port = std::stoi(m[1]);
        break;
      }
    }
    if (!port) throw Error("covscreen serve did not start: " + log);
    drain = std::thread([this, err] {
      char b[4096];
      while (fgets(b, sizeof b, err)) log += b;
      fclose(err);
    });
  }
  // SIGTERM, wait; the exit status (-1 when killed by a signal).
  int stop() {
    if (pid <= 0) return -1;
    kill(pid, SIGTERM);
    int st = 0;
    waitpid(pid, &st, 0);
    pid = -1;
    if (drain.joinable()) drain.join();
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::string model = default_model_path();
  std::string data = datasets_root() + "/COVID-CT/Images-processed";
  std::string spawn;
  LoadOptions lo;
  ServeOptions so;
  so.port = 0;
  so.log_requests = false;
  int files = 48, threads = 0;
  double cam_weight = -1;  // >= 0: the weight of ?cam=1 requests in the mix (default: the mix's own)
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string k = argv[i];
      if (i + 1 >= argc) throw UsageError("option " + k + " needs a value");
      const std::string v = argv[++i];
      if (k == "--model")
        model = v;
      else if (k == "--data")
        data = v;
      else if (k == "--requests")
        lo.requests = std::stoi(v);
      else if (k == "--concurrency")
        lo.concurrency = std::stoi(v);
      else if (k == "--files")
        files = std::stoi(v);
      else if (k == "--warmup")
        lo.warmup = std::stoi(v);
      else if (k == "--seed")
        lo.seed = std::stoull(v);
      else if (k == "--time-limit")
        lo.time_limit_s = std::stod(v);
      else if (k == "--spawn")
        spawn = v;
      else if (k == "--cam-weight")
        cam_weight = std::stod(v);
      else if (k == "--queue")
        so.queue_capacity = std::stoi(v);
      else if (k == "--batch")
        so.batch = std::stoi(v);
      else if (k == "--workers")
        so.workers = std::stoi(v);
      else if (k == "--http-threads")
        so.http_threads = std::stoi(v);
      else if (k == "--threads")
        threads = std::stoi(v);
      else
        throw UsageError("unknown option " + k);
    }
    const auto png = load_files(data, ".png", static_cast<size_t>(files));
    const auto jpeg = load_files(data, ".jpg", static_cast<size_t>(files));
    if (png.empty() || jpeg.empty()) throw UsageError("no PNG/JPEG files under " + data + "/CT_COVID, CT_NonCOVID");
    LoadMix mix = make_load_mix(png, jpeg, lo.seed);
    for (auto& [kind, w] : mix.weights)
      if (kind == "valid_cam" && cam_weight >= 0) w = cam_weight;

    std::unique_ptr<ScreenServer> server;
    Child child;
    std::string mode;
    if (spawn.empty()) {
      mode = "in-process";
      if (threads > 0) torch::set_num_threads(threads);
      server = std::make_unique<ScreenServer>(load_checkpoint(model), model_id_for_file(model), so);
      server->start();
      lo.port = server->port();
    } else {
      mode = "spawn";
      std::vector<std::string> args = {spawn,
                                       "serve",
                                       "--port",
                                       "0",
                                       "--model",
                                       model,
                                       "--no-log",
                                       "--queue",
                                       std::to_string(so.queue_capacity),
                                       "--batch",
                                       std::to_string(so.batch),
                                       "--workers",
                                       std::to_string(so.workers),
                                       "--http-threads",
                                       std::to_string(so.http_threads)};
      if (threads > 0) args.insert(args.end(), {"--threads", std::to_string(threads)});
      child.start(args);
      lo.port = child.port;
      lo.rss_pid = child.pid;
    }
    const LoadReport rep = run_load(mix, lo);
    int server_exit = 0;
    if (server)
      server->stop();
    else
      server_exit = child.stop();

    nlohmann::json out = {{"bench", "serve_load"},
                          {"mode", mode},
                          {"model", fs::path(model).filename().string()},
                          {"cores", std::thread::hardware_concurrency()},
                          {"server",
                           {{"queue", so.queue_capacity},
                            {"batch", so.batch},
                            {"workers", so.workers},
                            {"http_threads", so.http_threads},
                            {"threads", threads}}},
                          {"files", {{"png", png.size()}, {"jpeg", jpeg.size()}}},
                          {"warmup", lo.warmup},
                          {"mix", mix.weights},
                          {"seed", lo.seed}};
    out.update(rep.to_json());
    if (!server) out["server_exit"] = server_exit;
    std::cout << out.dump(2) << std::endl;
    const bool ok = rep.transport_errors == 0 && rep.valid_unexpected == 0 && rep.bad_200_bodies == 0 &&
                    rep.missing_retry_after == 0 && rep.corrupt_not_4xx_json == 0 && rep.server_alive &&
                    rep.sent == rep.requests && server_exit == 0;
    return ok ? 0 : 2;
  } catch (const UsageError& e) {
    std::cerr << "bench_serve_load: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "bench_serve_load: " << e.what() << "\n";
    return 2;
  }
}
