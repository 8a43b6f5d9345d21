#pragma once
// Where shared data sets, shipped models and the other files covscreen reads at run time live.
//
// An installed covscreen (cmake --install, the .deb, or either unpacked anywhere) finds its files
// relative to its own executable: <prefix>/bin/covscreen reads <prefix>/share/covscreen/. A
// build-tree binary has no such folder and reads the source tree (COVSCREEN_SOURCE_DIR).
#include <string>
#include <vector>

namespace covscreen {

// $COVSCREEN_DATA if set, else <source dir>/../shared/datasets.
std::string datasets_root();

// The running program's own file (/proc/self/exe, links resolved); empty when it cannot be read.
std::string executable_path();

// <dir of the executable>/../share/covscreen when that folder exists (an installed or unpacked
// package), else empty.
std::string installed_share_dir();

// A file read at run time, named by its path in the source tree (e.g. "models/x.ckpt",
// "bench/python/pytorch_baseline.py"): <installed_share_dir()>/<rel> when the package is installed
// and has it, else <source dir>/<rel>.
std::string runtime_file(const std::string& rel);

// The file name of the default model, the shipped CT model.
inline constexpr const char* kDefaultModelFile = "deep-ct-net-covid-ct.ckpt";

// $COVSCREEN_MODEL if set, else runtime_file("models/" + kDefaultModelFile).
std::string default_model_path();

// The folder of the shipped models (runtime_file("models")) and its *.ckpt files, sorted by name
// (empty when there is none).
std::string shipped_models_dir();
std::vector<std::string> shipped_models();

}  // namespace covscreen
