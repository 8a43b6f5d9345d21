#include "covscreen/metrics/delong.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>

#include "covscreen/core/error.h"
#include "covscreen/metrics/roc.h"

namespace covscreen::metrics {
namespace {

// Sun & Xu's placement values of one score vector: V10 (m positives) and V01 (n negatives).
struct Placements {
  std::vector<double> v10, v01;
  double auc = 0;
};

Placements placements(const std::vector<double>& scores, const std::vector<int>& labels) {
  std::vector<double> x, y;  // positives, negatives
  for (size_t i = 0; i < scores.size(); ++i) (labels[i] ? x : y).push_back(scores[i]);
  const size_t m = x.size(), n = y.size();
  if (m < 2 || n < 2)
    throw Error("DeLong variance of the AUC is undefined: needs at least 2 positive and 2 negative samples (got " +
                std::to_string(m) + " positive, " + std::to_string(n) + " negative)");
  std::vector<double> z(x);
  z.insert(z.end(), y.begin(), y.end());
  const std::vector<double> tx = midranks(x), ty = midranks(y), tz = midranks(z);
  Placements p;
  p.v10.resize(m);
  p.v01.resize(n);
  double sum = 0;
  for (size_t i = 0; i < m; ++i) {
    p.v10[i] = (tz[i] - tx[i]) / static_cast<double>(n);
    sum += p.v10[i];
  }
  for (size_t j = 0; j < n; ++j) p.v01[j] = 1.0 - (tz[m + j] - ty[j]) / static_cast<double>(m);
  p.auc = sum / static_cast<double>(m);
  return p;
}

// Sample covariance (denominator size - 1).
double covariance(const std::vector<double>& a, const std::vector<double>& b) {
  const double n = static_cast<double>(a.size());
  double ma = 0, mb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ma += a[i];
    mb += b[i];
  }
  ma /= n;
  mb /= n;
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += (a[i] - ma) * (b[i] - mb);
  return s / (n - 1);
}

}  // namespace

AucWithCi delong_auc(const std::vector<double>& scores, const std::vector<int>& labels, double z) {
  require_both_classes(scores, labels, "AUC");
  const Placements p = placements(scores, labels);
  AucWithCi r;
  r.auc = p.auc;
  r.variance = covariance(p.v10, p.v10) / static_cast<double>(p.v10.size()) +
               covariance(p.v01, p.v01) / static_cast<double>(p.v01.size());
  r.variance = std::max(0.0, r.variance);
  r.se = std::sqrt(r.variance);
  r.ci = {std::clamp(r.auc - z * r.se, 0.0, 1.0), std::clamp(r.auc + z * r.se, 0.0, 1.0)};
  return r;
}

DelongTest delong_test(const std::vector<double>& scores_a, const std::vector<double>& scores_b,
                       const std::vector<int>& labels) {
  if (scores_a.size() != scores_b.size())
    throw Error("DeLong test: the two score vectors differ in size (" + std::to_string(scores_a.size()) + " vs " +
                std::to_string(scores_b.size()) + ")");
  require_both_classes(scores_a, labels, "AUC of the first model");
  require_both_classes(scores_b, labels, "AUC of the second model");
  const Placements a = placements(scores_a, labels), b = placements(scores_b, labels);
  const double m = static_cast<double>(a.v10.size()), n = static_cast<double>(a.v01.size());
  const double vaa = covariance(a.v10, a.v10) / m + covariance(a.v01, a.v01) / n;
  const double vbb = covariance(b.v10, b.v10) / m + covariance(b.v01, b.v01) / n;
  const double vab = covariance(a.v10, b.v10) / m + covariance(a.v01, b.v01) / n;
  DelongTest t;
  t.auc_a = a.auc;
  t.auc_b = b.auc;
  t.difference = a.auc - b.auc;
  const double var = std::max(0.0, vaa + vbb - 2 * vab);
  t.se = std::sqrt(var);
  if (t.se == 0) {
    if (std::fabs(t.difference) > 1e-12)
      throw Error("DeLong test is undefined: the AUCs differ but the variance of their difference is 0");
    t.z = 0;
    t.p_value = 1;
    t.ci = {0, 0};
    return t;
  }
  t.z = t.difference / t.se;
  t.p_value = std::min(1.0, 2 * normal_cdf(-std::fabs(t.z)));
  t.ci = {t.difference - kZ95 * t.se, t.difference + kZ95 * t.se};
  return t;
}

}  // namespace covscreen::metrics
