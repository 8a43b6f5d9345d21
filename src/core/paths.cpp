#include "covscreen/core/paths.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>

namespace covscreen {

namespace fs = std::filesystem;

std::string datasets_root() {
  if (const char* e = std::getenv("COVSCREEN_DATA"); e && *e) return e;
  return std::string(COVSCREEN_SOURCE_DIR) + "/../shared/datasets";
}

std::string executable_path() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : exe.string();
}

std::string installed_share_dir() {
  const std::string exe = executable_path();
  if (exe.empty()) return "";
  const fs::path share = fs::path(exe).parent_path().parent_path() / "share" / "covscreen";
  std::error_code ec;
  return fs::is_directory(share, ec) ? share.lexically_normal().string() : std::string();
}

std::string runtime_file(const std::string& rel) {
  if (const std::string share = installed_share_dir(); !share.empty()) {
    std::error_code ec;
    const fs::path p = fs::path(share) / rel;
    if (fs::exists(p, ec)) return p.string();
  }
  return (fs::path(COVSCREEN_SOURCE_DIR) / rel).string();
}

std::string default_model_path() {
  if (const char* e = std::getenv("COVSCREEN_MODEL"); e && *e) return e;
  return runtime_file(std::string("models/") + kDefaultModelFile);
}

std::string shipped_models_dir() { return runtime_file("models"); }

std::vector<std::string> shipped_models() {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(shipped_models_dir(), ec), end; !ec && it != end; it.increment(ec))
    if (it->path().extension() == ".ckpt") out.push_back(it->path().string());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace covscreen
