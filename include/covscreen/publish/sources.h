#pragma once
// What goes into a published data set: the source slices under an input folder (DICOM studies
// as folders of series, or image files) and the optional labels CSV.
//
// Everything here is identifying (original patient ids, paths that may hold names): it lives in
// memory during a build and is never written out; build.h maps it to pseudonyms first.
#include <map>
#include <string>
#include <vector>

namespace covscreen::publish {

// Per-patient metadata from the labels CSV (or, for age and sex, the DICOM header).
struct PatientMeta {
  std::string label;  // canonical (core/labels.h); "" = unlabelled
  std::string original_label;
  int age = -1;      // years, -1 = unknown
  std::string sex;   // "F", "M", "O" or "" (unknown)
  std::string site;  // "" = unknown
};

// The labels CSV: `patient,label[,age,sex,site]` (one row per patient), or for images
// `path,patient,label[,age,sex,site]` (one row per image, path relative to the input folder).
// Column names are case-insensitive; `patient_id`/`PatientID` and `class` are accepted too.
struct LabelTable {
  std::map<std::string, PatientMeta> patients;      // original patient id -> meta
  std::map<std::string, std::string> path_patient;  // relative path -> original patient id
};

// Throws FileError (missing, no patient or label column, conflicting labels for one patient,
// a bad age).
LabelTable read_labels(const std::string& csv_path);

// "M", "male", "F", "female", "O", "other" -> M/F/O; anything else "".
std::string normalize_sex(const std::string& s);

struct SourceSlice {
  std::string path;  // absolute (identifying: never written)
  std::string rel;   // relative to the input folder (identifying)
  bool dicom = false;
  std::string patient;  // original patient id (identifying)
  std::string series;   // series key: SeriesInstanceUID, else the folder
  bool has_instance = false;
  long instance = 0;
  bool has_z = false;
  double z = 0.0;
  int age = -1;            // from the DICOM header (-1 unknown)
  std::string sex;         // from the DICOM header
  bool burned_in = false;  // BurnedInAnnotation YES
};

struct ScanResult {
  std::vector<SourceSlice> slices;        // sorted: patient, series, slice order (instance, z, path)
  std::map<std::string, size_t> skipped;  // reason -> count (no paths: they may identify)
};

// Walks `input` (a folder, or one file) recursively in sorted order. A file is a DICOM slice
// when it starts like DICOM (extension not required), an image when it has an image extension;
// other files are skipped. Patient of a DICOM slice: PatientID, else the first folder below the
// input; of an image: the CSV's path row, else the first folder below the input, else the file
// name without extension.
ScanResult scan_sources(const std::string& input, const LabelTable& labels);

}  // namespace covscreen::publish
