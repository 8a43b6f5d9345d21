#pragma once
// Helpers for tests that run the built `covscreen` binary (tests named *_cli*_test).
#include <sys/wait.h>
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "checkpoint_fixture.h"
#include "covscreen/models/checkpoint.h"
#include "test_util.h"

namespace covscreen::test {

inline std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

struct CliRun {
  int rc = -1;
  std::string out, err;
};

// Runs `covscreen <args>` with optional environment assignments in `env`; captures both streams.
inline CliRun run_cli(const std::string& args, const TempDir& dir, const std::string& env = "") {
  const std::string o = dir.file("stdout.txt"), e = dir.file("stderr.txt");
  const std::string cmd = env + " '" + bin_dir() + "/covscreen' " + args + " >'" + o + "' 2>'" + e + "'";
  const int st = std::system(cmd.c_str());
  CliRun r;
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  r.out = slurp(o);
  r.err = slurp(e);
  return r;
}

// `screen --format json` output: one JSON object per line -> a JSON array (throws on a bad line).
inline nlohmann::json parse_json_lines(const std::string& text) {
  nlohmann::json out = nlohmann::json::array();
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    if (end > at) out.push_back(nlohmann::json::parse(text.substr(at, end - at)));
    at = end + 1;
  }
  return out;
}

inline bool have_cli() { return fs::exists(bin_dir() + "/covscreen"); }

// A fresh (untrained) DenseNet-121 model at 64x64 input (covid/non-covid unless `classes` says
// otherwise), weights from `seed`.
inline std::string small_checkpoint(const TempDir& dir, uint64_t seed, const std::string& name = "small.ckpt",
                                    std::vector<std::string> classes = {"covid", "non-covid"}) {
  const std::string path = dir.file(name);
  save_checkpoint(path, untrained_checkpoint(seed, 64, std::move(classes)));
  return path;
}

}  // namespace covscreen::test
