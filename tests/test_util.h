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

// Path of a data set under the shared root, or "" when it is absent.
inline std::string dataset(const std::string& rel) {
  fs::path p = fs::path(datasets_root()) / rel;
  return fs::exists(p) ? p.string() : std::string();
}

#define COVSCREEN_REQUIRE_DATASET(var, rel)                                                     \
  const std::string var = ::covscreen::test::dataset(rel);                                      \
  if (var.empty())                                                                              \
  GTEST_SKIP() << "data set '" << (rel) << "' not found under " << ::covscreen::datasets_root() \
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

// Debian's python3 (the one with python3-torch, -torchvision, -sklearn, -pydicom), or "".
inline std::string debian_python() { return fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : ""; }

}  // namespace covscreen::test
