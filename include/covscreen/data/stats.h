#pragma once
// Counts of a manifest or a pack: images and patients per class and split (the paper's
// Table II, with patients added), and the patient-overlap check.
//
// A patient counts in a (class, split) cell when it has at least one image there; images
// without a patient id count as one patient each. Unlabelled images are class "" (shown as
// "(unlabelled)"), unsplit images split "" (shown as "(none)").
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "covscreen/data/manifest.h"
#include "covscreen/data/pack.h"
#include "covscreen/data/split.h"

namespace covscreen {

struct Count {
  size_t images = 0;
  size_t patients = 0;
};

struct DatasetStats {
  std::string kind;                                           // "manifest" or "pack"
  std::string layout;                                         // manifest layout, or "" for a pack
  std::vector<std::string> classes;                           // in order: covid first, then sorted ("" last)
  std::vector<std::string> splits;                            // train, val, test that occur, then "" when present
  std::map<std::string, std::map<std::string, Count>> cells;  // class -> split -> count
  std::map<std::string, Count> by_class, by_split;
  Count total;
  std::vector<PatientOverlap> overlap;  // patients in two splits (should be empty)
};

// `labels` are class names ("" = unlabelled); the three vectors have the same length.
DatasetStats compute_stats(const std::vector<std::string>& labels, const std::vector<std::string>& patient_ids,
                           const std::vector<std::string>& splits);
DatasetStats compute_stats(const Manifest& m);
DatasetStats compute_stats(const Pack& p);

// Table II style: one row per split (then Total), one column per class (then Total), each cell
// "images (patients)", and a final line with the overlap check's verdict.
std::string format_stats_table(const DatasetStats& s);

// Stable keys (nlohmann::json objects are sorted):
// {"kind","layout","images","patients","classes":[...],"splits":[...],
//  "by_class":{c:{"images","patients"}}, "by_split":{s:{"images","patients","by_class":{c:{...}}}},
//  "patient_overlap":{"ok":bool,"count":n,"patients":[{"patient_id","splits","images"}]}}
// Unlabelled is keyed "unlabelled", unsplit "unsplit".
nlohmann::json stats_to_json(const DatasetStats& s);

}  // namespace covscreen
