#pragma once
// Private to src/data: the per-layout indexers behind index_dataset (data/layouts.h) and
// the small file-system helpers they share.
#include <filesystem>
#include <string>
#include <vector>

#include "covscreen/core/strings.h"
#include "covscreen/data/layouts.h"

namespace covscreen::detail {

namespace fs = std::filesystem;

Manifest index_folders(const fs::path& root, IndexReport& report);
Manifest index_covid_ct(const fs::path& root, IndexReport& report);
Manifest index_ieee8023(const fs::path& root, const IndexOptions& opt, IndexReport& report);
Manifest index_kermany(const fs::path& root, IndexReport& report);

// Sorted (byte order) sub-directories / regular files of `dir`, skipping hidden entries and
// macOS resource folders (__MACOSX). Throws FileError when `dir` cannot be listed.
std::vector<fs::path> list_dirs(const fs::path& dir);
std::vector<fs::path> list_files(const fs::path& dir, bool recursive);

// Absolute, lexically normal path string.
std::string abs_path(const fs::path& p);
// Name used in the manifest's `source` column: the root folder's name.
std::string source_name(const fs::path& root);

}  // namespace covscreen::detail
