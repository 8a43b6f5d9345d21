#include "covscreen/metrics/patient.h"

#include <algorithm>
#include <unordered_map>

#include "covscreen/core/error.h"

namespace covscreen::metrics {

const EnumNames<Aggregation>& aggregation_names() {
  static const EnumNames<Aggregation> names{"aggregation", {{Aggregation::kMean, "mean"}, {Aggregation::kMax, "max"}}};
  return names;
}

PatientPredictions aggregate_by_patient(const std::vector<float>& probs, int num_classes,
                                        const std::vector<int>& labels, const std::vector<std::string>& patient_ids,
                                        Aggregation aggregation, int positive) {
  if (num_classes < 1) throw Error("patient aggregation: number of classes must be >= 1");
  const size_t K = static_cast<size_t>(num_classes);
  const size_t n = labels.size();
  if (probs.size() != n * K || patient_ids.size() != n)
    throw Error("patient aggregation: " + std::to_string(n) + " labels, " + std::to_string(patient_ids.size()) +
                " patient ids and " + std::to_string(probs.size()) + " probabilities for " + std::to_string(K) +
                " classes do not match");
  PatientPredictions out;
  out.num_classes = num_classes;
  std::unordered_map<std::string, size_t> index;
  std::vector<std::vector<double>> acc;         // P x K sum or max
  std::vector<std::vector<long>> label_counts;  // P x K
  for (size_t i = 0; i < n; ++i) {
    if (labels[i] >= num_classes)
      throw Error("patient aggregation: label " + std::to_string(labels[i]) + " at index " + std::to_string(i) +
                  " is not a class index");
    if (labels[i] < 0) {
      ++out.skipped_unlabelled;
      continue;
    }
    if (patient_ids[i].empty()) {
      ++out.skipped_no_id;
      continue;
    }
    auto [it, inserted] = index.emplace(patient_ids[i], out.ids.size());
    const size_t p = it->second;
    if (inserted) {
      out.ids.push_back(patient_ids[i]);
      out.num_slices.push_back(0);
      acc.emplace_back(K, aggregation == Aggregation::kMax ? -1e300 : 0.0);
      label_counts.emplace_back(K, 0);
    }
    ++out.num_slices[p];
    ++label_counts[p][labels[i]];
    for (size_t k = 0; k < K; ++k) {
      const double v = probs[i * K + k];
      acc[p][k] = aggregation == Aggregation::kMax ? std::max(acc[p][k], v) : acc[p][k] + v;
    }
  }
  const size_t P = out.ids.size();
  out.probs.resize(P * K);
  out.labels.resize(P);
  for (size_t p = 0; p < P; ++p) {
    for (size_t k = 0; k < K; ++k)
      out.probs[p * K + k] =
          static_cast<float>(aggregation == Aggregation::kMax ? acc[p][k] : acc[p][k] / out.num_slices[p]);
    if (positive >= 0 && positive < num_classes && label_counts[p][positive] > 0) {
      out.labels[p] = positive;
    } else {
      out.labels[p] = static_cast<int>(std::max_element(label_counts[p].begin(), label_counts[p].end()) -
                                       label_counts[p].begin());  // first maximum = smaller index
    }
  }
  return out;
}

}  // namespace covscreen::metrics
