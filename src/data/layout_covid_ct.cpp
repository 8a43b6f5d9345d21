// The UCSD COVID-CT layout (see data/layouts.h):
//   Images-processed/CT_COVID/*.png|jpg, Images-processed/CT_NonCOVID/*  (or Images/...)
//   Data-split/<any>/{train,val,test}CT_<class>.txt   one file name per line (CRLF allowed)
//   Meta/*.csv                                       file name -> patient id
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <system_error>

#include "covscreen/core/container.h"
#include "covscreen/core/error.h"
#include "covscreen/core/labels.h"
#include "covscreen/data/csv.h"
#include "covscreen/data/split.h"
#include "layout_detail.h"

namespace covscreen::detail {

Manifest index_covid_ct(const fs::path& root, IndexReport& report) {
  std::error_code ec;
  fs::path images = root / "Images-processed";
  if (!fs::is_directory(images, ec)) images = root / "Images";
  if (!fs::is_directory(images, ec))
    throw FileError(root.string(),
                    "COVID-CT layout: no Images-processed/ folder (unzip CT_COVID.zip and "
                    "CT_NonCOVID.zip into Images-processed/)");

  // Split lists: (class, file name) -> split.
  std::map<std::pair<std::string, std::string>, std::string> split_of;
  size_t listed = 0, conflicts = 0;
  static const std::regex kList(R"(^(train|val|test)(CT_.+)\.txt$)", std::regex::icase);
  if (fs::is_directory(root / "Data-split", ec)) {
    for (const auto& f : list_files(root / "Data-split", true)) {
      std::smatch mt;
      const std::string name = f.filename().string();
      if (!std::regex_match(name, mt, kList)) continue;
      const std::string split = canonical_split(mt[1].str()), cls = mt[2].str();
      std::istringstream lines(read_file(f.string()));
      for (std::string line; std::getline(lines, line);) {
        const std::string file = trim(line);  // drops the CR of CRLF lines
        if (file.empty()) continue;
        auto [it, inserted] = split_of.emplace(std::make_pair(cls, file), split);
        if (!inserted && it->second != split) ++conflicts;
        ++listed;
      }
    }
  } else {
    report.notes.push_back("no Data-split/ folder: all images are unsplit");
  }
  if (conflicts) report.notes.push_back(std::to_string(conflicts) + " file(s) are in two split lists (first kept)");

  // Patient ids from every Meta/*.csv that has a file-name and a patient-id column.
  std::map<std::string, std::string> patient_of;
  if (fs::is_directory(root / "Meta", ec)) {
    for (const auto& f : list_files(root / "Meta", false)) {
      if (lower(f.extension().string()) != ".csv") continue;
      const CsvTable t = read_csv_table(f.string());
      const int c_file = t.column_any({"File name", "image name", "filename", "image", "file"});
      const int c_pid = t.column_any({"Patient ID", "patient id", "patientid", "patient"});
      if (c_file < 0 || c_pid < 0) {
        report.notes.push_back(f.string() + ": no file-name / patient-id columns, ignored");
        continue;
      }
      for (size_t r = 0; r < t.rows().size(); ++r) {
        const std::string file = trim(t.field(r, c_file)), pid = trim(t.field(r, c_pid));
        if (!file.empty() && !pid.empty()) patient_of.emplace(file, pid);
      }
    }
  } else {
    report.notes.push_back("no Meta/ folder: patient ids are unknown");
  }

  Manifest m;
  const std::string source = source_name(root);
  size_t unsplit = 0, no_patient = 0, found_listed = 0;
  for (const auto& cls : list_dirs(images)) {
    const std::string name = cls.filename().string();
    for (const auto& f : list_files(cls, true)) {
      if (!is_image_path(f.string())) {
        report.skip("not an image file", f.string());
        continue;
      }
      const std::string file = f.filename().string();
      ManifestEntry e;
      e.path = abs_path(f);
      e.label = canonical_label(name);
      e.original_label = name;
      e.source = source;
      if (auto it = split_of.find({name, file}); it != split_of.end()) {
        e.split = it->second;
        ++found_listed;
      } else {
        ++unsplit;
      }
      if (auto it = patient_of.find(file); it != patient_of.end())
        e.patient_id = it->second;
      else
        ++no_patient;
      m.entries.push_back(std::move(e));
    }
  }
  if (unsplit) report.notes.push_back(std::to_string(unsplit) + " image(s) in no split list: kept with an empty split");
  if (listed > found_listed)
    report.notes.push_back(std::to_string(listed - found_listed) +
                           " split-list entr(ies) name no image here (e.g. the test split is absent)");
  if (no_patient) report.notes.push_back(std::to_string(no_patient) + " image(s) without a patient id in Meta/");
  return m;
}

}  // namespace covscreen::detail
