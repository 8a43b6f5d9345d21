// The ieee8023 covid-chestxray-dataset layout (see data/layouts.h): metadata.csv + images/.
// Also reads the Figure1 (no file-name column: image = images/<patientid>.<ext>) and Actualmed
// (`imagename` column) metadata.csv files, whose other columns are the same.
#include <map>
#include <regex>
#include <set>
#include <system_error>

#include "covscreen/core/error.h"
#include "covscreen/core/labels.h"
#include "covscreen/data/csv.h"
#include "layout_detail.h"

namespace covscreen::detail {
namespace {

// finding -> canonical label; "" when the finding is blank or unknown.
std::string finding_label(const std::string& finding) {
  const std::string f = lower(trim(finding));
  if (f.empty() || f == "todo" || f == "unknown" || f == "unlabelled" || f == "unlabeled" || f == "n/a") return "";
  const std::string c = canonical_label(finding);
  if (c == kCovid || c == kNormal || c == kPneumonia || c == kNonCovid) return c;
  // Pathogens and kinds of pneumonia named without the word "pneumonia".
  static const char* kPneumonias[] = {"streptococcus", "pneumocystis",   "klebsiella",  "mycoplasma", "legionella",
                                      "lipoid",        "e.coli",         "e. coli",     "bacterial",  "viral",
                                      "fungal",        "sars",           "mers",        "ards",       "chlamydophila",
                                      "chlamydia",     "staphylococcus", "influenza",   "h1n1",       "varicella",
                                      "herpes",        "aspergillosis",  "nocardia",    "moraxella",  "candida",
                                      "cryptococcus",  "histoplasmosis", "scedosporium"};
  for (const char* p : kPneumonias)
    if (f.find(p) != std::string::npos) return kPneumonia;
  return c;  // e.g. "tuberculosis": kept as its own class
}

// Figure1 ids "COVID-00003a" / "COVID-00003b" are one patient.
std::string normalize_patient(const std::string& id) {
  static const std::regex kSuffix(R"(^([A-Za-z]+-\d+)[a-z]$)");
  std::smatch mt;
  return std::regex_match(id, mt, kSuffix) ? mt[1].str() : id;
}

}  // namespace

Manifest index_ieee8023(const fs::path& root, const IndexOptions& opt, IndexReport& report) {
  const fs::path meta = root / "metadata.csv";
  const CsvTable t = read_csv_table(meta.string());
  const int c_pid = t.column_any({"patientid", "patient_id", "patient id"});
  const int c_finding = t.column("finding");
  if (c_pid < 0 || c_finding < 0)
    throw FileError(meta.string(), "not an ieee8023-style metadata.csv: needs the columns 'patientid' and 'finding'");
  const int c_view = t.column("view"), c_mod = t.column("modality"), c_folder = t.column("folder");
  const int c_file = t.column_any({"filename", "imagename", "image", "file"});

  // Figure1 style: no file-name column, the image is images/<patientid>.<ext>.
  std::map<std::string, fs::path> by_stem;
  std::error_code ec;
  if (c_file < 0 && fs::is_directory(root / "images", ec))
    for (const auto& f : list_files(root / "images", false)) by_stem.emplace(f.stem().string(), f);

  std::set<std::string> views;
  for (const auto& v : opt.views) views.insert(lower(trim(v)));

  Manifest m;
  const std::string source = source_name(root);
  std::map<std::string, size_t> entry_of_path;  // path -> entry index
  std::map<std::string, std::string> alias;     // patient id -> the id it was merged into
  for (size_t r = 0; r < t.rows().size(); ++r) {
    const std::string where = meta.string() + ":" + std::to_string(t.rows()[r].line);
    const std::string finding = trim(t.field(r, c_finding));
    const std::string label = finding_label(finding);
    if (label.empty()) {
      report.skip("blank or unknown finding", where);
      continue;
    }
    const std::string modality = trim(t.field(r, c_mod));
    if (!opt.modality.empty() && c_mod >= 0 && !iequals(modality, opt.modality)) {
      report.skip("modality " + (modality.empty() ? std::string("(blank)") : modality) + " filtered out", where);
      continue;
    }
    const std::string view = trim(t.field(r, c_view));
    if (!views.empty() && !views.count(lower(view))) {
      report.skip("view " + (view.empty() ? std::string("(blank)") : view) + " filtered out", where);
      continue;
    }
    const std::string pid = normalize_patient(trim(t.field(r, c_pid)));
    fs::path file;
    if (c_file >= 0) {
      const std::string folder = c_folder >= 0 ? trim(t.field(r, c_folder)) : std::string();
      const std::string name = trim(t.field(r, c_file));
      if (name.empty()) {
        report.skip("no file name", where);
        continue;
      }
      file = root / (folder.empty() ? std::string("images") : folder) / name;
    } else if (auto it = by_stem.find(trim(t.field(r, c_pid))); it != by_stem.end()) {
      file = it->second;
    }
    if (file.empty() || !fs::is_regular_file(file, ec)) {
      report.skip("image file missing", file.empty() ? where : file.string());
      continue;
    }
    if (!is_image_path(file.string())) {
      report.skip("not an image file", file.string());
      continue;
    }
    const std::string path = abs_path(file);
    if (auto it = entry_of_path.find(path); it != entry_of_path.end()) {
      // The same image under a second row: index it once; its patient ids are one person.
      const std::string& first = m.entries[it->second].patient_id;
      if (!pid.empty() && pid != first && !alias.count(pid)) alias[pid] = first;
      report.skip("second metadata row for the same image", where);
      continue;
    }
    ManifestEntry e;
    e.path = path;
    e.label = label;
    e.original_label = finding;
    e.patient_id = pid;
    e.source = source;
    entry_of_path.emplace(path, m.entries.size());
    m.entries.push_back(std::move(e));
  }
  auto resolve = [&](std::string id) {
    for (int hops = 0; hops < 64; ++hops) {
      auto it = alias.find(id);
      if (it == alias.end() || it->second == id) break;
      id = it->second;
    }
    return id;
  };
  for (auto& e : m.entries) e.patient_id = resolve(e.patient_id);
  for (const auto& [from, to] : alias)
    report.notes.push_back("patient " + from + " shares images with patient " + resolve(to) + ": merged");
  return m;
}

}  // namespace covscreen::detail
