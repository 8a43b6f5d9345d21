#include "covscreen/benchmark/python_baseline.h"

#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "covscreen/core/paths.h"
#include "covscreen/data/csv.h"

namespace covscreen {
namespace {

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

nlohmann::json PythonBaseline::run(const std::vector<std::string>& args) const {
  const std::string path = script.empty() ? runtime_file("bench/python/pytorch_baseline.py") : script;
  std::string cmd = shell_quote(python) + " " + shell_quote(path);
  for (const auto& a : args) cmd += " " + shell_quote(a);
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return {{"error", "cannot start " + python}};
  std::string out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, n);
  const int status = pclose(pipe);
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (code == 3)
    return {{"error", python + " has no torch / torchvision / PIL (install python3-torch python3-torchvision)"}};
  if (code != 0) return {{"error", path + " exited with status " + std::to_string(code)}};
  // The JSON object is the last line printed.
  while (!out.empty() && out.back() == '\n') out.pop_back();
  const auto start = out.rfind('\n');
  auto j = nlohmann::json::parse(out.substr(start == std::string::npos ? 0 : start + 1), nullptr, false);
  if (!j.is_object()) return {{"error", path + " printed no JSON object"}};
  return j;
}

nlohmann::json compare_probabilities(const std::vector<std::pair<std::string, double>>& ours,
                                     const std::string& baseline_csv) {
  std::map<std::string, double> theirs;
  std::ifstream in(baseline_csv, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  for (const auto& rec : parse_csv(text.str(), baseline_csv))
    if (rec.fields.size() >= 2) theirs[rec.fields[0]] = std::stod(rec.fields[1]);
  double sum = 0, max = 0;
  size_t n = 0;
  for (const auto& [path, p] : ours) {
    auto it = theirs.find(path);
    if (it == theirs.end()) continue;
    const double d = std::fabs(p - it->second);
    sum += d;
    max = std::max(max, d);
    ++n;
  }
  return {{"matched", n}, {"mean_abs_diff", n ? sum / n : 0.0}, {"max_abs_diff", max}};
}

}  // namespace covscreen
