#pragma once
// Multi-label chest X-ray labels in CheXpert's CSV format (Irvin et al. 2019): a header
//   Path,Sex,Age,Frontal/Lateral,AP/PA,No Finding,Enlarged Cardiomediastinum,Cardiomegaly,
//   Lung Opacity,Lung Lesion,Edema,Consolidation,Pneumonia,Atelectasis,Pneumothorax,
//   Pleural Effusion,Pleural Other,Fracture,Support Devices
// and one row per image; each finding is 1 (positive), 0 (negative), -1 (uncertain) or blank (not
// mentioned), written "1.0"/"0.0"/"-1.0" in the released files ("1"/"0"/"-1" also accepted).
// Reading picks the finding columns to keep (Deep-CXR-Net's part 1 outputs a 6-vector; which six
// is the user's choice) and maps the values to targets in {0, 1}:
//   1 -> 1, 0 -> 0, blank -> 0 (CheXpert's convention: not mentioned = negative),
//   -1 -> 1 under "u-ones", 0 under "u-zeros" (the paper's uncertainty policies U-Ones / U-Zeros).
// Paths are relative to `root` (default: the CSV's folder, or its parent when the paths start
// with the CSV folder's own name, as CheXpert-v1.0-small/train/... in CheXpert-v1.0-small/train.csv).
// Patient id: the path component "patientNNNNN" (CheXpert's layout), else the file stem.
#include <string>
#include <vector>

#include "covscreen/core/registry.h"
#include "covscreen/data/manifest.h"

namespace covscreen {

// What -1 (uncertain) becomes: 1 (U-Ones) or 0 (U-Zeros).
enum class UncertaintyPolicy { kOnes, kZeros };
const EnumNames<UncertaintyPolicy>& uncertainty_names();  // u-ones | u-zeros

// CheXpert's 14 observation columns, in the released order.
extern const std::vector<std::string> kChexpertFindings;
// The default 6-vector: CheXpert's five competition findings plus Pneumonia.
extern const std::vector<std::string> kDefaultCxrFindings;

struct ChexpertOptions {
  std::vector<std::string> findings = kDefaultCxrFindings;  // columns to keep, in output order
  UncertaintyPolicy uncertainty = UncertaintyPolicy::kOnes;
  std::string root;           // "" = automatic (see above)
  bool frontal_only = false;  // keep rows whose Frontal/Lateral is "Frontal" (when the column exists)
  void validate() const;      // throws UsageError
};

struct MultiLabelManifest {
  Manifest manifest;                        // path (absolute), patient_id, source; label empty
  std::vector<std::string> findings;        // = options.findings
  std::vector<std::vector<float>> targets;  // one row per manifest entry, values in {0, 1}
  size_t uncertain = 0;                     // -1 values mapped by the policy
  size_t skipped_lateral = 0;               // rows left out by frontal_only
};

// Throws FileError naming the CSV and line for a missing Path/finding column, or a value that is
// not 1/0/-1/blank; UsageError for bad options.
MultiLabelManifest read_chexpert(const std::string& csv_path, const ChexpertOptions& opt);

}  // namespace covscreen
