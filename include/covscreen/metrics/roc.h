#pragma once
// Binary ranking metrics: ROC curve, ROC AUC, average precision.
//
// Inputs: `scores` (N, any finite real; higher = more positive) and `labels` (N, 0 or 1).
// Semantics follow scikit-learn 1.2 (verified in tests/metrics_roc_test.cpp):
//   roc_curve          one point per distinct score, thresholds decreasing, a sample is predicted
//                      positive when score >= threshold; a first point (0, 0) with threshold +inf
//                      (sklearn >= 1.3; 1.2 used max+1). drop_intermediate as in sklearn.
//   roc_auc            Mann-Whitney U / (m n) with ties counted 1/2 (= trapezoidal area of the curve)
//   average_precision  sum_k (R_k - R_{k-1}) P_k over the distinct thresholds (no interpolation)
// Undefined cases (no samples, only one class) throw covscreen::Error with a clear message,
// e.g. "AUC is undefined: all 12 samples are of one class (negative)". Never NaN.
#include <string>
#include <vector>

namespace covscreen::metrics {

struct RocCurve {
  std::vector<double> fpr;         // false positive rate, non-decreasing, fpr[0] = 0, back = 1
  std::vector<double> tpr;         // true positive rate, non-decreasing, tpr[0] = 0, back = 1
  std::vector<double> thresholds;  // decreasing; thresholds[0] = +infinity
};

RocCurve roc_curve(const std::vector<double>& scores, const std::vector<int>& labels, bool drop_intermediate = false);

double roc_auc(const std::vector<double>& scores, const std::vector<int>& labels);

double average_precision(const std::vector<double>& scores, const std::vector<int>& labels);

// Mid-ranks (1-based; tied values share the mean of their ranks), as scipy.stats.rankdata.
std::vector<double> midranks(const std::vector<double>& x);

// Validation shared by the binary metrics: equal sizes, N > 0, labels in {0, 1}, finite scores.
// `what` names the metric in the message ("AUC"). Returns the number of positives.
long check_binary_input(const std::vector<double>& scores, const std::vector<int>& labels, const std::string& what);

// As check_binary_input, and also throws when all samples are of one class.
void require_both_classes(const std::vector<double>& scores, const std::vector<int>& labels, const std::string& what);

}  // namespace covscreen::metrics
