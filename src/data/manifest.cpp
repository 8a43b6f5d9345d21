#include "covscreen/data/manifest.h"

#include <filesystem>

#include "covscreen/core/container.h"
#include "covscreen/core/error.h"
#include "covscreen/core/labels.h"
#include "covscreen/data/csv.h"
#include "covscreen/data/split.h"

namespace covscreen {
namespace fs = std::filesystem;

Manifest read_manifest(const std::string& path) {
  const CsvTable t = read_csv_table(path);
  const int c_path = t.column("path"), c_label = t.column("label"), c_patient = t.column("patient_id"),
            c_split = t.column("split"), c_source = t.column("source"), c_orig = t.column("original_label");
  if (c_path < 0 || c_label < 0)
    throw FileError(path, std::string("not a manifest: the header needs at least the columns 'path' and 'label' (") +
                              kManifestColumns + ")");
  const fs::path folder = fs::absolute(fs::path(path)).parent_path();
  Manifest m;
  m.layout = "manifest";
  m.entries.reserve(t.rows().size());
  for (size_t r = 0; r < t.rows().size(); ++r) {
    const size_t line = t.rows()[r].line;
    ManifestEntry e;
    e.path = t.field(r, c_path);
    if (e.path.empty()) throw FileError(path, "line " + std::to_string(line) + ": empty path");
    fs::path p(e.path);
    if (p.is_relative()) p = folder / p;
    e.path = p.lexically_normal().string();
    e.original_label = c_orig >= 0 ? t.field(r, c_orig) : t.field(r, c_label);
    e.label = canonical_label(t.field(r, c_label));
    e.patient_id = t.field(r, c_patient);
    const std::string& split = t.field(r, c_split);
    e.split = canonical_split(split);
    if (!split.empty() && e.split.empty())
      throw FileError(
          path, "line " + std::to_string(line) + ": split '" + split + "' is not one of train, val, test (or empty)");
    e.source = t.field(r, c_source);
    m.entries.push_back(std::move(e));
  }
  return m;
}

void write_manifest(const std::string& path, const Manifest& m) {
  const fs::path folder = fs::absolute(fs::path(path)).parent_path().lexically_normal();
  std::string out = std::string(kManifestColumns) + "\n";
  for (const auto& e : m.entries) {
    // Paths inside the manifest's folder are written relative to it, so the folder can move.
    fs::path p = fs::absolute(fs::path(e.path)).lexically_normal();
    fs::path rel = p.lexically_relative(folder);
    std::string written = p.string();
    if (!rel.empty() && *rel.begin() != "..") written = rel.string();
    out += csv_record({written, e.label, e.patient_id, e.split, e.source, e.original_label});
  }
  write_file_atomic(path, out);
}

}  // namespace covscreen
