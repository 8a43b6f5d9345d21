#pragma once
// Patient-level aggregation of slice (image) probabilities.
//   probabilities: for each class separately, the mean (default) or the max of that class's
//                  slice probabilities over the patient's labelled slices;
//   label:         the positive (COVID) class if any slice is labelled positive, otherwise the
//                  most frequent slice label (ties: the smaller class index). In the public data
//                  sets all slices of a patient share one label, where both rules agree.
// Slices labelled -1 (unlabelled) or with an empty patient id are left out and counted.
// Patients appear in the order of their first slice.
#include <string>
#include <vector>

#include "covscreen/core/registry.h"

namespace covscreen::metrics {

enum class Aggregation { kMean, kMax };

const EnumNames<Aggregation>& aggregation_names();  // mean | max

struct PatientPredictions {
  int num_classes = 0;
  std::vector<std::string> ids;  // P patient ids
  std::vector<float> probs;      // P x K row-major aggregated probabilities
  std::vector<int> labels;       // P patient labels
  std::vector<int> num_slices;   // P slice counts
  long skipped_unlabelled = 0;   // slices left out for label -1
  long skipped_no_id = 0;        // slices left out for an empty patient id
};

// probs: N x K row-major; labels: N (-1 = unlabelled); patient_ids: N. positive: the COVID class
// index (or -1: majority label only). Throws covscreen::Error on mismatched sizes or labels >= K.
PatientPredictions aggregate_by_patient(const std::vector<float>& probs, int num_classes,
                                        const std::vector<int>& labels, const std::vector<std::string>& patient_ids,
                                        Aggregation aggregation, int positive);

}  // namespace covscreen::metrics
