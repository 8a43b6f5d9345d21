#pragma once
// Shared test helpers: where the shared data sets are, temp dirs, skipping cleanly.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "covscreen/core/paths.h"

namespace covscreen::test {

namespace fs = std::filesystem;

// Whether a missing prerequisite (a data set, the built CLI, a Debian package, the shipped model, the
// converted ImageNet weights) fails the test instead of skipping it: COVSCREEN_REQUIRE_DATA=1, which
// .ci/run sets, since CI has all of them. A test that needs what no CI machine has (a CUDA
// device) uses GTEST_SKIP itself.
inline bool prerequisites_required() {
  const char* e = std::getenv("COVSCREEN_REQUIRE_DATA");
  return e && std::string(e) == "1";
}

// GTEST_SKIP() for a missing prerequisite: a skip, or a failure under COVSCREEN_REQUIRE_DATA=1.
// Use as GTEST_SKIP: `if (!have) COVSCREEN_SKIP() << "what is missing";`
#define COVSCREEN_SKIP()                                                                                          \
  return GTEST_MESSAGE_AT_(__FILE__, __LINE__,                                                                    \
                           ::covscreen::test::prerequisites_required()                                            \
                               ? "missing, and COVSCREEN_REQUIRE_DATA=1 makes that a failure: "                   \
                               : "",                                                                              \
                           ::covscreen::test::prerequisites_required() ? ::testing::TestPartResult::kFatalFailure \
                                                                       : ::testing::TestPartResult::kSkip)

// Path of a data set under the shared root, or "" when it is absent.
inline std::string dataset(const std::string& rel) {
  fs::path p = fs::path(datasets_root()) / rel;
  return fs::exists(p) ? p.string() : std::string();
}

#define COVSCREEN_REQUIRE_DATASET(var, rel)                                                         \
  const std::string var = ::covscreen::test::dataset(rel);                                          \
  if (var.empty())                                                                                  \
  COVSCREEN_SKIP() << "data set '" << (rel) << "' not found under " << ::covscreen::datasets_root() \
                   << " (set COVSCREEN_DATA to the shared datasets folder)"

// A fresh temporary directory, removed when the object dies.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() / ("covscreen-test-" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

// Directory holding the built binaries (the covscreen CLI), from CTest's environment.
inline std::string bin_dir() {
  const char* e = std::getenv("COVSCREEN_BIN_DIR");
  return e ? e : std::string(COVSCREEN_SOURCE_DIR) + "/build";
}

// The converted ImageNet ResNet-50 (scripts/get-imagenet-resnet50): $COVSCREEN_IMAGENET_WEIGHTS,
// else <source dir>/weights/resnet50-imagenet.pt; "" when absent.
inline std::string imagenet_weights() {
  const char* e = std::getenv("COVSCREEN_IMAGENET_WEIGHTS");
  const std::string p = e ? e : std::string(COVSCREEN_SOURCE_DIR) + "/weights/resnet50-imagenet.pt";
  return fs::exists(p) ? p : std::string();
}

// Debian's python3 (the one with python3-torch, -torchvision, -sklearn, -pydicom), or "".
inline std::string debian_python() { return fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : ""; }

}  // namespace covscreen::test
