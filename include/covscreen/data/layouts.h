#pragma once
// Indexing a data set folder into a manifest (data/manifest.h). Cheap: lists files and reads
// metadata, never decodes an image. Labels are canonical (core/labels.h); the data set's own
// name stays in `original_label`. Paths are absolute (lexically normalized).
//
// Layouts:
//   folders   root/<class>/.../image. A top folder named train/val/validation/test (any case)
//             gives the split and the level below it is the class (CT-COV19: Train/COV/21/F.jpg).
//             Patient = "<class>/<first sub-folder under the class>" when there is one, else
//             "<class>/<file stem>" (patient folders are usually numbered per class, so the class
//             keeps COV/21 and NOR/21 apart). Files directly in root or a split folder are skipped.
//   covid-ct  UCSD COVID-CT: Images-processed/CT_COVID|CT_NonCOVID (or Images/), split lists
//             Data-split/*/{train,val,test}CT_*.txt (whichever exist), patient ids from Meta/*.csv.
//             Images in no split list are kept with an empty split (counted in the report);
//             images missing from the metadata get an empty patient id (counted).
//   ieee8023  covid-chestxray-dataset metadata.csv (also Figure1 / Actualmed metadata.csv):
//             finding -> label (COVID-19* -> covid, "No Finding" -> normal, pneumonias and their
//             pathogens -> pneumonia), patientid, filters on modality (default X-ray) and view
//             (default all). Blank/"todo"/unknown findings, other modalities and views, rows whose
//             file is missing and second rows for the same file are skipped and counted; patient
//             ids that share a file are merged into the first one (the same person twice).
//   kermany   chest_xray: [train|test|val/]NORMAL|PNEUMONIA/*.jpeg; split from the folder name;
//             patient = "personN" (PNEUMONIA personN_bacteria_M.jpeg) or "IM-NNNN" (NORMAL
//             IM-NNNN-0001.jpeg, NORMAL2-IM-NNNN-0001.jpeg).
//   manifest  a CSV in the manifest format (root is the file).
//   auto      a .csv file -> manifest; Images-processed/ or Data-split/ -> covid-ct;
//             metadata.csv -> ieee8023; NORMAL/PNEUMONIA folders -> kermany; else folders.
#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "covscreen/core/registry.h"
#include "covscreen/data/manifest.h"

namespace covscreen {

struct IndexOptions;
struct IndexReport;

// The layout registry: layouts().names() = auto, folders, covid-ct, ieee8023, kermany, manifest.
// A new layout: its indexer in its own src/data/layout_xxx.cpp, one line in layouts().
struct Layout {
  std::string summary;
  // Indexes `root`; empty for "auto", which resolves to another layout (detect_layout).
  std::function<Manifest(const std::string& root, const IndexOptions& opt, IndexReport& report)> index;
  bool folder = true;  // root must be a folder (manifest: a CSV file)
};
const Registry<Layout>& layouts();

struct IndexOptions {
  std::string layout = "auto";
  std::string modality = "X-ray";  // ieee8023: keep rows of this modality ("" = all)
  std::vector<std::string> views;  // ieee8023: keep these views, case-insensitive (empty = all)
};

struct IndexReport {
  std::string layout;                     // the layout used (auto resolved)
  std::map<std::string, size_t> skipped;  // reason -> count of files/rows not indexed
  std::vector<std::string> examples;      // the first few "path: reason"
  std::vector<std::string> notes;         // anything else worth saying (counts of gaps)
  size_t skipped_total() const;
  void skip(const std::string& reason, const std::string& what);
};

// Throws FileError (root missing / unreadable metadata) or UsageError (unknown layout, with the
// valid ones).
Manifest index_dataset(const std::string& root, const IndexOptions& opt = {}, IndexReport* report = nullptr);

// The layout `auto` would choose for `root`. Throws FileError when nothing fits.
std::string detect_layout(const std::string& root);

// Image file extensions indexed (case-insensitive): png jpg jpeg bmp tif tiff dcm dicom.
bool is_image_path(const std::string& path);

}  // namespace covscreen
