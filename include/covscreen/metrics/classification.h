#pragma once
// Decisions at a threshold: binary confusion counts with Wilson intervals, and the K-class
// confusion matrix with per-class precision / recall / F1 / one-vs-rest AUC.
//
// Probabilities are a flat row-major vector `probs` of N x K floats (sample i, class k at
// probs[i * K + k]); they need not sum to 1 (the models use one sigmoid per class).
// The decision rule, used for the K x K matrix and by `covscreen evaluate` / `screen`:
//   predicted = positive            if probs[positive] >= threshold
//             = argmax of the others otherwise            (positive < 0: plain argmax)
// so the K x K matrix, the binary counts and predictions.csv always agree. For K = 2 with
// softmax-like outputs and threshold 0.5 this is the plain argmax.
#include <optional>
#include <string>
#include <vector>

#include "covscreen/metrics/proportion.h"

namespace covscreen::metrics {

struct ConfusionCounts {
  long tp = 0, fp = 0, tn = 0, fn = 0;
  long n() const { return tp + fp + tn + fn; }
};

struct BinaryMetrics {
  double threshold = 0.5;
  ConfusionCounts counts;
  Proportion accuracy;       // (tp + tn) / n
  Proportion precision;      // tp / (tp + fp)      undefined without positive predictions
  Proportion recall;         // tp / (tp + fn)      = sensitivity; undefined without positives
  Proportion specificity;    // tn / (tn + fp)      undefined without negatives
  std::optional<double> f1;  // 2 tp / (2 tp + fp + fn); empty when that denominator is 0
};

// Predicted positive when score >= threshold. labels in {0, 1}. Throws covscreen::Error on
// empty or mismatched input.
BinaryMetrics binary_metrics(const std::vector<double>& scores, const std::vector<int>& labels, double threshold);

// The decision rule above, for N = probs.size() / K samples. Throws on K < 1, a size that is not
// a multiple of K, or positive >= K.
std::vector<int> predict_classes(const std::vector<float>& probs, int num_classes, int positive, double threshold);

struct ClassMetrics {
  std::string name;
  long support = 0;                             // samples whose label is this class
  long predicted = 0;                           // samples predicted as this class
  std::optional<double> precision, recall, f1;  // empty where sklearn would warn (0/0)
  std::optional<double> auc;                    // one-vs-rest on probs[:, k]; empty if undefined
  std::optional<double> ap;                     // one-vs-rest average precision
};

struct MultiClassMetrics {
  std::vector<std::vector<long>> confusion;  // K x K, rows = true class, columns = predicted
  std::vector<ClassMetrics> per_class;       // K entries
  std::optional<double> macro_auc;           // mean of the defined one-vs-rest AUCs
  int macro_auc_classes = 0;                 // how many classes that mean is over
  std::optional<double> macro_f1;            // mean of the defined per-class F1s
};

// labels and predicted: N ints in [0, K). class_names: K names (or empty: "class <k>").
MultiClassMetrics multiclass_metrics(const std::vector<float>& probs, int num_classes, const std::vector<int>& labels,
                                     const std::vector<int>& predicted, const std::vector<std::string>& class_names);

}  // namespace covscreen::metrics
