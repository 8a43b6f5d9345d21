// Binary metrics against independently computed numbers:
//  - ROC curve / AUC / AP / confusion on a fixed vector with ties: scikit-learn 1.2.1, produced by
//      /usr/bin/python3 tests/python/sklearn_reference.py fixed
//    i.e. sklearn.metrics.roc_curve(y, s, drop_intermediate=False/True), roc_auc_score(y, s),
//    average_precision_score(y, s), and accuracy/precision/recall/f1_score(y, s >= 0.4).
//  - Wilson intervals: Newcombe (1998) Stat Med 17:857-872, Table II, method 3.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "covscreen/core/error.h"
#include "covscreen/metrics/classification.h"
#include "covscreen/metrics/proportion.h"
#include "covscreen/metrics/roc.h"
#include "metrics_binary_example.h"

namespace cm = covscreen::metrics;

namespace {

void expect_near_vec(const std::vector<double>& got, const std::vector<double>& want, double tol = 1e-12) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "index " << i;
}

}  // namespace

TEST(MetricsRoc, CurveMatchesSklearnWithTies) {
  const cm::RocCurve roc = cm::roc_curve(kS, kY);
  expect_near_vec(roc.fpr, {0.0, 0.0, 0.0, 1.0 / 6, 0.5, 0.5, 2.0 / 3, 5.0 / 6, 1.0});
  expect_near_vec(roc.tpr, {0.0, 1.0 / 6, 1.0 / 3, 1.0 / 3, 0.5, 1.0, 1.0, 1.0, 1.0});
  // sklearn 1.2 writes max+1 (1.9) for the first threshold; we (and sklearn >= 1.3) write +inf.
  EXPECT_TRUE(std::isinf(roc.thresholds[0]));
  expect_near_vec({roc.thresholds.begin() + 1, roc.thresholds.end()}, {0.9, 0.8, 0.6, 0.4, 0.35, 0.2, 0.1, 0.05});
}

TEST(MetricsRoc, DropIntermediateMatchesSklearn) {
  const cm::RocCurve roc = cm::roc_curve(kS, kY, /*drop_intermediate=*/true);
  expect_near_vec(roc.fpr, {0.0, 0.0, 0.0, 1.0 / 6, 0.5, 0.5, 1.0});
  expect_near_vec(roc.tpr, {0.0, 1.0 / 6, 1.0 / 3, 1.0 / 3, 0.5, 1.0, 1.0});
}

TEST(MetricsRoc, AucAndApMatchSklearn) {
  EXPECT_NEAR(cm::roc_auc(kS, kY), 0.69444444444444442, 1e-12);
  EXPECT_NEAR(cm::average_precision(kS, kY), 0.75, 1e-12);
}

TEST(MetricsRoc, AucEqualsTrapezoidOfCurve) {
  const cm::RocCurve roc = cm::roc_curve(kS, kY);
  double area = 0;
  for (size_t i = 1; i < roc.fpr.size(); ++i) area += (roc.fpr[i] - roc.fpr[i - 1]) * (roc.tpr[i] + roc.tpr[i - 1]) / 2;
  EXPECT_NEAR(area, cm::roc_auc(kS, kY), 1e-12);
}

TEST(MetricsRoc, PerfectAndReversedRankings) {
  EXPECT_DOUBLE_EQ(cm::roc_auc({0.1, 0.2, 0.8, 0.9}, {0, 0, 1, 1}), 1.0);
  EXPECT_DOUBLE_EQ(cm::roc_auc({0.9, 0.8, 0.2, 0.1}, {0, 0, 1, 1}), 0.0);
  EXPECT_DOUBLE_EQ(cm::roc_auc({0.5, 0.5, 0.5, 0.5}, {0, 1, 0, 1}), 0.5);  // all tied
  EXPECT_DOUBLE_EQ(cm::average_precision({0.1, 0.2, 0.8, 0.9}, {0, 0, 1, 1}), 1.0);
}

TEST(MetricsRoc, MidranksLikeScipyRankdata) {
  // scipy.stats.rankdata([3, 1, 3, 2, 3]) = [4, 1, 4, 2, 4]
  expect_near_vec(cm::midranks({3, 1, 3, 2, 3}), {4, 1, 4, 2, 4});
}

TEST(MetricsRoc, OneClassThrowsClearError) {
  const std::vector<double> s(12, 0.3);
  const std::vector<int> neg(12, 0), pos(12, 1);
  try {
    cm::roc_auc(s, neg);
    FAIL() << "no exception";
  } catch (const covscreen::Error& e) {
    EXPECT_STREQ(e.what(), "AUC is undefined: all 12 samples are of one class (negative)");
  }
  EXPECT_THROW(cm::roc_auc(s, pos), covscreen::Error);
  EXPECT_THROW(cm::roc_curve(s, pos), covscreen::Error);
  EXPECT_THROW(cm::average_precision(s, neg), covscreen::Error);
  EXPECT_NO_THROW(cm::average_precision(s, pos));  // defined: every call is right
}

TEST(MetricsRoc, BadInputThrows) {
  EXPECT_THROW(cm::roc_auc({}, {}), covscreen::Error);
  EXPECT_THROW(cm::roc_auc({0.1, 0.2}, {0}), covscreen::Error);
  EXPECT_THROW(cm::roc_auc({0.1, 0.2}, {0, 2}), covscreen::Error);
  EXPECT_THROW(cm::roc_auc({0.1, std::numeric_limits<double>::quiet_NaN()}, {0, 1}), covscreen::Error);
  EXPECT_THROW(cm::binary_metrics({}, {}, 0.5), covscreen::Error);
}

TEST(MetricsBinary, ConfusionMatchesSklearnAtThreshold) {
  // sklearn: confusion_matrix(y, s >= 0.4) = [[3, 3], [3, 3]]; accuracy, precision, recall, F1 = 0.5.
  const cm::BinaryMetrics b = cm::binary_metrics(kS, kY, 0.4);
  EXPECT_EQ(b.counts.tn, 3);
  EXPECT_EQ(b.counts.fp, 3);
  EXPECT_EQ(b.counts.fn, 3);
  EXPECT_EQ(b.counts.tp, 3);
  EXPECT_DOUBLE_EQ(b.accuracy.value, 0.5);
  EXPECT_DOUBLE_EQ(b.precision.value, 0.5);
  EXPECT_DOUBLE_EQ(b.recall.value, 0.5);
  EXPECT_DOUBLE_EQ(b.specificity.value, 0.5);
  ASSERT_TRUE(b.f1.has_value());
  EXPECT_DOUBLE_EQ(*b.f1, 0.5);
  EXPECT_EQ(b.accuracy.n, 12);
}

TEST(MetricsBinary, UndefinedProportionsAreEmptyNotNan) {
  const cm::BinaryMetrics b = cm::binary_metrics({0.1, 0.2, 0.3}, {0, 0, 0}, 0.5);
  EXPECT_FALSE(b.precision.defined());  // no positive calls
  EXPECT_FALSE(b.recall.defined());     // no positives
  EXPECT_TRUE(b.specificity.defined());
  EXPECT_DOUBLE_EQ(b.specificity.value, 1.0);
  EXPECT_FALSE(b.f1.has_value());
}

TEST(MetricsWilson, NewcombeTableII) {
  struct Case {
    long k, n;
    double lo, hi;
  };
  for (const Case& c : {Case{81, 263, 0.2553, 0.3662}, Case{15, 148, 0.0624, 0.1605}, Case{0, 20, 0.0, 0.1611},
                        Case{1, 29, 0.0061, 0.1718}, Case{29, 29, 0.8830, 1.0}}) {
    const cm::Interval ci = cm::wilson_interval(c.k, c.n);
    EXPECT_NEAR(ci.lo, c.lo, 5e-5) << c.k << "/" << c.n;
    EXPECT_NEAR(ci.hi, c.hi, 5e-5) << c.k << "/" << c.n;
  }
  EXPECT_THROW(cm::wilson_interval(0, 0), covscreen::Error);
  EXPECT_THROW(cm::wilson_interval(5, 4), covscreen::Error);
  EXPECT_FALSE(cm::make_proportion(0, 0).defined());
}

TEST(MetricsWilson, NormalCdf) {
  EXPECT_NEAR(cm::normal_cdf(cm::kZ95), 0.975, 1e-12);
  EXPECT_NEAR(cm::normal_cdf(0), 0.5, 1e-15);
}
