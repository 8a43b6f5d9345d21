#include "covscreen/data/chexpert.h"

#include <filesystem>
#include <regex>

#include "covscreen/core/error.h"
#include "covscreen/data/csv.h"

namespace covscreen {
namespace fs = std::filesystem;

const std::vector<std::string> kChexpertFindings{"No Finding",       "Enlarged Cardiomediastinum",
                                                 "Cardiomegaly",     "Lung Opacity",
                                                 "Lung Lesion",      "Edema",
                                                 "Consolidation",    "Pneumonia",
                                                 "Atelectasis",      "Pneumothorax",
                                                 "Pleural Effusion", "Pleural Other",
                                                 "Fracture",         "Support Devices"};

const std::vector<std::string> kDefaultCxrFindings{"Atelectasis", "Cardiomegaly",     "Consolidation",
                                                   "Edema",       "Pleural Effusion", "Pneumonia"};

const EnumNames<UncertaintyPolicy>& uncertainty_names() {
  static const EnumNames<UncertaintyPolicy> names{
      "uncertainty", {{UncertaintyPolicy::kOnes, "u-ones"}, {UncertaintyPolicy::kZeros, "u-zeros"}}};
  return names;
}

void ChexpertOptions::validate() const {
  if (findings.empty()) throw UsageError("chexpert: no findings chosen");
  for (size_t i = 0; i < findings.size(); ++i)
    for (size_t j = i + 1; j < findings.size(); ++j)
      if (findings[i] == findings[j]) throw UsageError("chexpert: finding '" + findings[i] + "' chosen twice");
}

namespace {

// 1 / 0 / -1 / blank; anything else is a FileError.
int parse_value(const std::string& v, const std::string& csv, size_t line, const std::string& column) {
  if (v.empty()) return 0;
  if (v == "1" || v == "1.0") return 1;
  if (v == "0" || v == "0.0") return 0;
  if (v == "-1" || v == "-1.0") return -1;
  throw FileError(
      csv, "line " + std::to_string(line) + ": column '" + column + "' has '" + v + "' (expected 1, 0, -1 or blank)");
}

std::string patient_of(const fs::path& rel) {
  static const std::regex kPatient(R"(^patient\d+$)");
  for (const auto& part : rel)
    if (std::regex_match(part.string(), kPatient)) return part.string();
  return rel.stem().string();
}

fs::path default_root(const fs::path& csv, const std::string& first_path) {
  const fs::path dir = fs::absolute(csv).parent_path();
  const fs::path first = fs::path(first_path);
  if (!first.empty() && first.begin()->string() == dir.filename().string()) return dir.parent_path();
  return dir;
}

}  // namespace

MultiLabelManifest read_chexpert(const std::string& csv_path, const ChexpertOptions& opt) {
  opt.validate();
  const CsvTable t = read_csv_table(csv_path);
  const int path_col = t.column("Path");
  if (path_col < 0) throw FileError(csv_path, "not a CheXpert-format CSV: no 'Path' column");
  std::vector<int> cols;
  for (const auto& f : opt.findings) {
    const int c = t.column(f);
    if (c < 0) throw FileError(csv_path, "no column '" + f + "' (chosen finding)");
    cols.push_back(c);
  }
  const int view_col = t.column("Frontal/Lateral");
  const fs::path root =
      opt.root.empty() ? default_root(csv_path, t.rows().empty() ? "" : t.field(0, path_col)) : fs::path(opt.root);
  MultiLabelManifest out;
  out.findings = opt.findings;
  out.manifest.layout = "chexpert";
  const std::string source = fs::path(csv_path).filename().string();
  for (size_t r = 0; r < t.rows().size(); ++r) {
    const size_t line = t.rows()[r].line;
    const std::string& rel = t.field(r, path_col);
    if (rel.empty()) throw FileError(csv_path, "line " + std::to_string(line) + ": empty Path");
    if (opt.frontal_only && view_col >= 0 && t.field(r, view_col) != "Frontal") {
      ++out.skipped_lateral;
      continue;
    }
    std::vector<float> row;
    for (size_t k = 0; k < cols.size(); ++k) {
      const int v = parse_value(t.field(r, cols[k]), csv_path, line, opt.findings[k]);
      if (v == -1) ++out.uncertain;
      row.push_back(v == 1 || (v == -1 && opt.uncertainty == UncertaintyPolicy::kOnes) ? 1.0f : 0.0f);
    }
    ManifestEntry e;
    const fs::path p = fs::path(rel).is_absolute() ? fs::path(rel) : root / rel;
    e.path = p.lexically_normal().string();
    e.patient_id = patient_of(fs::path(rel));
    e.source = source;
    out.manifest.entries.push_back(std::move(e));
    out.targets.push_back(std::move(row));
  }
  return out;
}

}  // namespace covscreen
