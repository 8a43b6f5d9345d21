#include "covscreen/publish/output_tree.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <vector>

#include "covscreen/core/container.h"
#include "covscreen/core/error.h"

namespace covscreen::publish {
namespace fs = std::filesystem;

OutputTree::OutputTree(std::string root) : root_(fs::absolute(root).lexically_normal().string()) {}

std::string OutputTree::path(const std::string& rel) const { return (fs::path(root_) / rel).string(); }

void OutputTree::open() {
  std::error_code ec;
  if (fs::exists(root_, ec)) {
    if (!fs::is_directory(root_, ec)) throw UsageError("--out " + root_ + " exists and is not a folder");
    const bool empty = fs::directory_iterator(root_, ec) == fs::directory_iterator();
    if (!empty && !fs::exists(path("card.json")) && !fs::exists(path(kInProgressMarker)))
      throw UsageError("--out " + root_ +
                       " is not empty and is not a covscreen data set (no card.json); refusing to overwrite it");
  }
  fs::create_directories(root_, ec);
  if (ec) throw FileError(root_, "cannot create the output folder: " + ec.message());
  write_file_atomic(path(kInProgressMarker), "covscreen dataset build: incomplete until this file is gone\n");
}

void OutputTree::keep(const std::string& rel) { files_.insert(fs::path(rel).lexically_normal().string()); }

void OutputTree::write(const std::string& rel, const std::string& bytes) {
  keep(rel);
  const fs::path p = path(rel);
  std::error_code ec;
  if (fs::is_regular_file(p, ec) && fs::file_size(p, ec) == bytes.size() && read_file(p.string()) == bytes) return;
  fs::create_directories(p.parent_path(), ec);
  if (ec) throw FileError(p.parent_path().string(), "cannot create folder: " + ec.message());
  write_file_atomic(p.string(), bytes);
  ++written_;
}

size_t OutputTree::finish() {
  std::vector<fs::path> stale, dirs;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root_, ec); it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (ec) break;
    const std::string rel = it->path().lexically_relative(root_).string();
    if (it->is_directory(ec) && !it->is_symlink(ec)) {
      dirs.push_back(it->path());
    } else if (rel != kInProgressMarker && !files_.count(rel)) {
      stale.push_back(it->path());
    }
  }
  for (const auto& p : stale) {
    fs::remove(p, ec);
    if (ec) throw FileError(p.string(), "cannot remove a stale file: " + ec.message());
  }
  std::sort(dirs.rbegin(), dirs.rend());  // children before parents
  for (const auto& d : dirs)
    if (fs::is_empty(d, ec)) fs::remove(d, ec);
  fs::remove(path(kInProgressMarker), ec);
  return stale.size();
}

}  // namespace covscreen::publish
