#pragma once
// Runs bench/python/pytorch_baseline.py (the same Deep-CT-Net in PyTorch + torchvision, with a
// DataLoader + PIL pipeline) as a child process and returns the JSON object it prints.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace covscreen {

struct PythonBaseline {
  std::string python = "/usr/bin/python3";
  std::string script;  // empty: runtime_file("bench/python/pytorch_baseline.py") (core/paths.h)
  // args after the script, e.g. {"screen", "--weights", sd, ...}. Returns the parsed JSON, or
  // {"error": "..."} when the interpreter, torch or the script fails (exit 3: torch missing).
  nlohmann::json run(const std::vector<std::string>& args) const;
};

// Mean and max |a - b| of P(class 0) between covscreen's items and the baseline's --probs CSV
// (path,p0,p1,...), matched by path.
nlohmann::json compare_probabilities(const std::vector<std::pair<std::string, double>>& ours,
                                     const std::string& baseline_csv);

}  // namespace covscreen
