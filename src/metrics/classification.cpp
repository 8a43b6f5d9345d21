#include "covscreen/metrics/classification.h"

#include <string>

#include "covscreen/core/error.h"
#include "covscreen/metrics/roc.h"

namespace covscreen::metrics {
namespace {

size_t check_probs(const std::vector<float>& probs, int num_classes) {
  if (num_classes < 1) throw Error("metrics: number of classes must be >= 1, got " + std::to_string(num_classes));
  if (probs.size() % static_cast<size_t>(num_classes) != 0)
    throw Error("metrics: " + std::to_string(probs.size()) + " probabilities is not a multiple of " +
                std::to_string(num_classes) + " classes");
  return probs.size() / static_cast<size_t>(num_classes);
}

std::optional<double> ratio(long num, long den) {
  if (den <= 0) return std::nullopt;
  return static_cast<double>(num) / static_cast<double>(den);
}

}  // namespace

BinaryMetrics binary_metrics(const std::vector<double>& scores, const std::vector<int>& labels, double threshold) {
  check_binary_input(scores, labels, "Binary metrics");
  BinaryMetrics b;
  b.threshold = threshold;
  ConfusionCounts& c = b.counts;
  for (size_t i = 0; i < scores.size(); ++i) {
    const bool pred = scores[i] >= threshold;
    if (labels[i])
      (pred ? c.tp : c.fn) += 1;
    else
      (pred ? c.fp : c.tn) += 1;
  }
  b.accuracy = make_proportion(c.tp + c.tn, c.n());
  b.precision = make_proportion(c.tp, c.tp + c.fp);
  b.recall = make_proportion(c.tp, c.tp + c.fn);
  b.specificity = make_proportion(c.tn, c.tn + c.fp);
  b.f1 = ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn);
  return b;
}

std::vector<int> predict_classes(const std::vector<float>& probs, int num_classes, int positive, double threshold) {
  const size_t n = check_probs(probs, num_classes);
  if (positive >= num_classes)
    throw Error("metrics: positive class " + std::to_string(positive) + " out of range for " +
                std::to_string(num_classes) + " classes");
  const size_t K = static_cast<size_t>(num_classes);
  std::vector<int> out(n);
  for (size_t i = 0; i < n; ++i) {
    const float* p = probs.data() + i * K;
    if (positive >= 0 && (p[positive] >= threshold || num_classes == 1)) {
      out[i] = positive;
      continue;
    }
    int best = -1;
    for (int k = 0; k < num_classes; ++k) {
      if (k == positive) continue;
      if (best < 0 || p[k] > p[best]) best = k;
    }
    out[i] = best;
  }
  return out;
}

MultiClassMetrics multiclass_metrics(const std::vector<float>& probs, int num_classes, const std::vector<int>& labels,
                                     const std::vector<int>& predicted, const std::vector<std::string>& class_names) {
  const size_t n = check_probs(probs, num_classes);
  if (labels.size() != n || predicted.size() != n)
    throw Error("metrics: " + std::to_string(n) + " samples but " + std::to_string(labels.size()) + " labels and " +
                std::to_string(predicted.size()) + " predictions");
  if (!class_names.empty() && class_names.size() != static_cast<size_t>(num_classes))
    throw Error("metrics: " + std::to_string(class_names.size()) + " class names for " + std::to_string(num_classes) +
                " classes");
  const size_t K = static_cast<size_t>(num_classes);
  MultiClassMetrics r;
  r.confusion.assign(K, std::vector<long>(K, 0));
  for (size_t i = 0; i < n; ++i) {
    if (labels[i] < 0 || labels[i] >= num_classes || predicted[i] < 0 || predicted[i] >= num_classes)
      throw Error("metrics: label " + std::to_string(labels[i]) + " or prediction " + std::to_string(predicted[i]) +
                  " at index " + std::to_string(i) + " is not a class index in [0, " + std::to_string(K) + ")");
    ++r.confusion[labels[i]][predicted[i]];
  }
  double auc_sum = 0, f1_sum = 0;
  int f1_count = 0;
  for (size_t k = 0; k < K; ++k) {
    ClassMetrics c;
    c.name = class_names.empty() ? "class " + std::to_string(k) : class_names[k];
    long tp = r.confusion[k][k];
    for (size_t j = 0; j < K; ++j) {
      c.support += r.confusion[k][j];
      c.predicted += r.confusion[j][k];
    }
    c.precision = ratio(tp, c.predicted);
    c.recall = ratio(tp, c.support);
    c.f1 = ratio(2 * tp, c.support + c.predicted);
    if (c.f1) {
      f1_sum += *c.f1;
      ++f1_count;
    }
    if (c.support > 0 && c.support < static_cast<long>(n)) {
      std::vector<double> s(n);
      std::vector<int> y(n);
      for (size_t i = 0; i < n; ++i) {
        s[i] = probs[i * K + k];
        y[i] = labels[i] == static_cast<int>(k);
      }
      c.auc = roc_auc(s, y);
      c.ap = average_precision(s, y);
      auc_sum += *c.auc;
      ++r.macro_auc_classes;
    }
    r.per_class.push_back(std::move(c));
  }
  if (r.macro_auc_classes > 0) r.macro_auc = auc_sum / r.macro_auc_classes;
  if (f1_count > 0) r.macro_f1 = f1_sum / f1_count;
  return r;
}

}  // namespace covscreen::metrics
