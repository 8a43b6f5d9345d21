#pragma once
// DeLong's nonparametric variance of the ROC AUC and the paired test of two correlated AUCs
// (DeLong, DeLong & Clarke-Pearson 1988), computed with the fast O(N log N) algorithm of
// Sun & Xu 2014 (IEEE Signal Processing Letters 21(11)):
//   V10_i = (Tz_i - Tx_i) / n  for each of the m positives,
//   V01_j = 1 - (Tz_j - Ty_j) / m  for each of the n negatives   (T = mid-ranks),
//   Var(AUC) = S10 / m + S01 / n      (S = sample (co)variance, denominator m-1 / n-1).
// The interval is the plain normal one, AUC +- z * SE, clipped to [0, 1], as pROC's ci.auc
// (method "delong"); verified against pROC 1.18 on its aSAH data (tests/metrics_delong_test.cpp).
#include <vector>

#include "covscreen/metrics/proportion.h"

namespace covscreen::metrics {

struct AucWithCi {
  double auc = 0;
  double variance = 0;  // DeLong variance of the AUC
  double se = 0;        // sqrt(variance)
  Interval ci;          // auc +- z se, clipped to [0, 1]
};

// Throws covscreen::Error when there are fewer than 2 positives or 2 negatives (the variance is
// undefined), plus the errors of roc_auc.
AucWithCi delong_auc(const std::vector<double>& scores, const std::vector<int>& labels, double z = kZ95);

struct DelongTest {
  double auc_a = 0;
  double auc_b = 0;
  double difference = 0;  // auc_a - auc_b
  double se = 0;          // SE of the difference (uses the covariance of the two AUCs)
  double z = 0;           // difference / se
  double p_value = 1;     // two-sided
  Interval ci;            // difference +- 1.96 se (not clipped)
};

// Paired test: both score vectors are for the same samples with the same `labels`.
// Throws covscreen::Error when sizes differ, the variance is undefined, or the SE of the
// difference is 0 while the AUCs differ (identical rankings give z = 0, p = 1).
DelongTest delong_test(const std::vector<double>& scores_a, const std::vector<double>& scores_b,
                       const std::vector<int>& labels);

}  // namespace covscreen::metrics
