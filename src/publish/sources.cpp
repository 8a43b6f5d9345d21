#include "covscreen/publish/sources.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <tuple>

#include "covscreen/core/error.h"
#include "covscreen/core/labels.h"
#include "covscreen/data/csv.h"
#include "covscreen/io/deidentify.h"
#include "covscreen/io/image_reader.h"

namespace covscreen::publish {
namespace fs = std::filesystem;

std::string normalize_sex(const std::string& s) {
  const std::string l = lower_trim(s);
  if (l == "m" || l == "male") return "M";
  if (l == "f" || l == "female") return "F";
  if (l == "o" || l == "other") return "O";
  return "";
}

LabelTable read_labels(const std::string& csv_path) {
  const CsvTable t = read_csv_table(csv_path);
  const int c_patient = t.column_any({"patient", "patient_id", "PatientID", "patientid"});
  const int c_label = t.column_any({"label", "class"});
  const int c_path = t.column("path"), c_age = t.column("age"), c_sex = t.column("sex"), c_site = t.column("site");
  if (c_patient < 0 || c_label < 0)
    throw FileError(csv_path, "the labels CSV needs `patient` and `label` columns (patient,label[,age,sex,site])");
  LabelTable out;
  for (size_t r = 0; r < t.rows().size(); ++r) {
    const std::string line = "line " + std::to_string(t.rows()[r].line);
    const std::string patient = t.field(r, c_patient);
    if (patient.empty()) throw FileError(csv_path, line + ": empty patient");
    PatientMeta m;
    m.original_label = t.field(r, c_label);
    m.label = m.original_label.empty() ? "" : canonical_label(m.original_label);
    const std::string age = lower_trim(t.field(r, c_age));
    if (!age.empty()) {
      size_t used = 0;
      double a = -1;
      try {
        a = std::stod(age, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != age.size() || !(a >= 0 && a < 150)) throw FileError(csv_path, line + ": bad age '" + age + "'");
      m.age = int(std::floor(a));
    }
    m.sex = normalize_sex(t.field(r, c_sex));
    m.site = t.field(r, c_site);
    if (c_path >= 0 && !t.field(r, c_path).empty())
      out.path_patient[fs::path(t.field(r, c_path)).lexically_normal().string()] = patient;
    auto it = out.patients.find(patient);
    if (it == out.patients.end()) {
      out.patients.emplace(patient, m);
    } else if (it->second.label != m.label) {
      throw FileError(csv_path, line + ": patient has two labels ('" + it->second.original_label + "' and '" +
                                    m.original_label + "')");
    }
  }
  return out;
}

namespace {

std::string first_component(const fs::path& rel) {
  const auto it = rel.begin();
  return std::next(it) == rel.end() ? "" : it->string();  // only when the file is inside a folder
}

}  // namespace

ScanResult scan_sources(const std::string& input, const LabelTable& labels) {
  ScanResult res;
  std::error_code ec;
  const fs::path root = fs::absolute(input);
  std::vector<fs::path> files;
  if (fs::is_regular_file(root, ec)) {
    files.push_back(root);
  } else if (fs::is_directory(root, ec)) {
    for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) break;
      if (it->is_regular_file(ec)) files.push_back(it->path());
    }
    std::sort(files.begin(), files.end());
  } else {
    throw FileError(input, "input not found (expected a folder of DICOM studies or images)");
  }
  const fs::path base = fs::is_directory(root, ec) ? root : root.parent_path();
  for (const auto& f : files) {
    SourceSlice s;
    s.path = f.string();
    const fs::path rel = f.lexically_relative(base);
    s.rel = rel.string();
    const std::string folder = first_component(rel);
    if (looks_like_dicom_file(f.string())) {
      DicomIdentity id;
      try {
        id = read_dicom_identity(s.path);
      } catch (const FileError&) {
        ++res.skipped["unreadable DICOM header"];
        continue;
      }
      if (id.rows <= 0 || id.cols <= 0) {
        ++res.skipped["DICOM without an image (no Rows/Columns)"];
        continue;
      }
      s.dicom = true;
      s.patient = !id.patient_id.empty() ? id.patient_id : !folder.empty() ? folder : rel.stem().string();
      s.series = !id.series_uid.empty() ? id.series_uid : rel.parent_path().string();
      s.has_instance = id.has_instance_number;
      s.instance = id.instance_number;
      s.has_z = id.has_position;
      s.z = id.position_z;
      s.age = age_years(id);
      s.sex = normalize_sex(id.patient_sex);
      s.burned_in = id.burned_in_annotation;
    } else if (has_image_extension(s.path)) {
      const auto it = labels.path_patient.find(rel.lexically_normal().string());
      s.patient = it != labels.path_patient.end() ? it->second : !folder.empty() ? folder : rel.stem().string();
      s.series = rel.parent_path().string();
    } else {
      ++res.skipped["not DICOM and not an image"];
      continue;
    }
    res.slices.push_back(std::move(s));
  }
  auto key = [](const SourceSlice& s) {
    return std::make_tuple(s.patient, s.series, !s.has_instance, s.has_instance ? s.instance : 0L, !s.has_z,
                           s.has_z ? s.z : 0.0, s.rel);
  };
  std::sort(res.slices.begin(), res.slices.end(),
            [&](const SourceSlice& a, const SourceSlice& b) { return key(a) < key(b); });
  return res;
}

}  // namespace covscreen::publish
