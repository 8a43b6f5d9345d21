#pragma once
// The manifest: one CSV row per image, `path,label,patient_id,split,source,original_label`.
// `label` is canonical (core/labels.h), `original_label` the data set's own name.
// `path` is absolute or relative to the manifest's folder. `split` is train|val|test or empty.
#include <string>
#include <vector>

namespace covscreen {

struct ManifestEntry {
  std::string path;
  std::string label;
  std::string patient_id;
  std::string split;
  std::string source;
  std::string original_label;
};

struct Manifest {
  std::vector<ManifestEntry> entries;
  std::string layout;  // which layout produced it (informational)
};

inline const char* kManifestColumns = "path,label,patient_id,split,source,original_label";

// RFC 4180 CSV (quotes, embedded commas/newlines). Throws FileError with the line number.
Manifest read_manifest(const std::string& path);
void write_manifest(const std::string& path, const Manifest& m);  // atomic

}  // namespace covscreen
