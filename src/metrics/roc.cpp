#include "covscreen/metrics/roc.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "covscreen/core/error.h"

namespace covscreen::metrics {
namespace {

// Cumulative counts at each distinct score, scores taken from high to low:
// tps[i] / fps[i] = positives / negatives with score >= thresholds[i].
struct Cumulative {
  std::vector<double> tps, fps, thresholds;
};

Cumulative cumulative_counts(const std::vector<double>& scores, const std::vector<int>& labels) {
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  Cumulative c;
  double tp = 0, fp = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    const size_t j = order[i];
    if (labels[j])
      tp += 1;
    else
      fp += 1;
    if (i + 1 == order.size() || scores[order[i + 1]] != scores[j]) {
      c.tps.push_back(tp);
      c.fps.push_back(fp);
      c.thresholds.push_back(scores[j]);
    }
  }
  return c;
}

}  // namespace

long check_binary_input(const std::vector<double>& scores, const std::vector<int>& labels, const std::string& what) {
  if (scores.size() != labels.size())
    throw Error(what + ": " + std::to_string(scores.size()) + " scores but " + std::to_string(labels.size()) +
                " labels");
  if (scores.empty()) throw Error(what + " is undefined: no samples");
  long pos = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] != 0 && labels[i] != 1)
      throw Error(what + ": label " + std::to_string(labels[i]) + " at index " + std::to_string(i) + " is not 0 or 1");
    if (!std::isfinite(scores[i])) throw Error(what + ": score at index " + std::to_string(i) + " is not finite");
    pos += labels[i];
  }
  return pos;
}

void require_both_classes(const std::vector<double>& scores, const std::vector<int>& labels, const std::string& what) {
  const long pos = check_binary_input(scores, labels, what);
  const long n = static_cast<long>(labels.size());
  if (pos == 0 || pos == n)
    throw Error(what + " is undefined: all " + std::to_string(n) + " samples are of one class (" +
                (pos == 0 ? "negative" : "positive") + ")");
}

std::vector<double> midranks(const std::vector<double>& x) {
  std::vector<size_t> order(x.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return x[a] < x[b]; });
  std::vector<double> r(x.size());
  size_t i = 0;
  while (i < order.size()) {
    size_t j = i;
    while (j + 1 < order.size() && x[order[j + 1]] == x[order[i]]) ++j;
    const double mid = 0.5 * static_cast<double>(i + j) + 1.0;  // mean of ranks i+1 .. j+1
    for (size_t k = i; k <= j; ++k) r[order[k]] = mid;
    i = j + 1;
  }
  return r;
}

RocCurve roc_curve(const std::vector<double>& scores, const std::vector<int>& labels, bool drop_intermediate) {
  require_both_classes(scores, labels, "ROC curve");
  Cumulative c = cumulative_counts(scores, labels);
  std::vector<size_t> keep;
  const size_t m = c.tps.size();
  if (drop_intermediate && m > 2) {
    // sklearn: keep the ends and every point where the second difference of fps or tps is nonzero.
    keep.push_back(0);
    for (size_t i = 1; i + 1 < m; ++i) {
      const double d2f = c.fps[i + 1] - 2 * c.fps[i] + c.fps[i - 1];
      const double d2t = c.tps[i + 1] - 2 * c.tps[i] + c.tps[i - 1];
      if (d2f != 0 || d2t != 0) keep.push_back(i);
    }
    keep.push_back(m - 1);
  } else {
    keep.resize(m);
    std::iota(keep.begin(), keep.end(), 0);
  }
  const double P = c.tps.back(), N = c.fps.back();
  RocCurve roc;
  roc.fpr.reserve(keep.size() + 1);
  roc.fpr.push_back(0);
  roc.tpr.push_back(0);
  roc.thresholds.push_back(std::numeric_limits<double>::infinity());
  for (size_t i : keep) {
    roc.fpr.push_back(c.fps[i] / N);
    roc.tpr.push_back(c.tps[i] / P);
    roc.thresholds.push_back(c.thresholds[i]);
  }
  return roc;
}

double roc_auc(const std::vector<double>& scores, const std::vector<int>& labels) {
  require_both_classes(scores, labels, "AUC");
  const std::vector<double> r = midranks(scores);
  long double rank_sum = 0;
  long pos = 0;
  for (size_t i = 0; i < r.size(); ++i)
    if (labels[i]) {
      rank_sum += r[i];
      ++pos;
    }
  const long double m = pos, n = static_cast<long double>(labels.size()) - pos;
  return static_cast<double>((rank_sum - m * (m + 1) / 2) / (m * n));
}

double average_precision(const std::vector<double>& scores, const std::vector<int>& labels) {
  const long pos = check_binary_input(scores, labels, "Average precision");
  if (pos == 0)
    throw Error("Average precision is undefined: all " + std::to_string(labels.size()) +
                " samples are of one class (negative)");
  Cumulative c = cumulative_counts(scores, labels);
  long double ap = 0, prev_tp = 0;
  for (size_t i = 0; i < c.tps.size(); ++i) {
    ap += (c.tps[i] - prev_tp) / pos * (c.tps[i] / (c.tps[i] + c.fps[i]));
    prev_tp = c.tps[i];
  }
  return static_cast<double>(ap);
}

}  // namespace covscreen::metrics
