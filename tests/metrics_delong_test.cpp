// DeLong variance, CI and paired test on pROC's aSAH data (Turck et al. 2010; 113 patients,
// outcome Poor = 1), against published and independently computed answers:
//  - var(AUC): pROC's own test suite (tests/testthat/test-var.R) expects
//      var(r.s100b) = 0.00266868245717244, var(r.wfns) = 0.00146991470882363;
//  - CI: pROC documents "Area under the curve: 0.7314, 95% CI: 0.6301-0.8326 (DeLong)" for s100b;
//  - all re-run here with R 4.2 + pROC 1.18.0 (Debian r-cran-proc):
//      library(pROC); data(aSAH); r1 <- roc(aSAH$outcome, aSAH$s100b); r2 <- roc(aSAH$outcome, aSAH$wfns)
//      auc(r1) 0.7313686, ci.auc(r1) 0.6301182-0.8326189, auc(r2) 0.8236789, ci.auc(r2) 0.7485349-0.8988228
//      roc.test(r1, r2, method="delong") Z = -2.20898359144091, p = 0.0271757822291882
//    and with the numpy Sun & Xu implementation in tests/python/sklearn_reference.py (same numbers).
// The vectors below are aSAH$outcome == "Poor", aSAH$s100b and as.integer(aSAH$wfns), in data order.
#include <gtest/gtest.h>

#include "covscreen/core/error.h"
#include "covscreen/metrics/delong.h"
#include "covscreen/metrics/roc.h"

namespace cm = covscreen::metrics;

namespace {

const std::vector<int> kPoor = {0, 0, 0, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0,
                                0, 0, 0, 1, 0, 0, 1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0,
                                1, 0, 1, 0, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1, 0, 0, 0, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0,
                                1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 0};
const std::vector<double> kS100b = {
    0.13, 0.14, 0.1,  0.04, 0.13, 0.1,  0.47, 0.16, 0.18, 0.1,  0.12, 0.1,  0.44, 0.71, 0.04, 0.08, 0.49, 0.04, 0.07,
    0.33, 0.09, 0.09, 0.07, 0.11, 0.07, 0.17, 0.07, 0.11, 0.13, 0.19, 0.05, 0.16, 0.41, 0.14, 0.34, 0.35, 0.48, 0.09,
    0.96, 0.25, 0.5,  0.46, 0.16, 0.07, 0.43, 0.45, 0.11, 0.08, 0.09, 0.86, 0.52, 0.08, 0.06, 0.13, 2.07, 0.1,  0.14,
    0.15, 0.07, 0.06, 0.77, 0.05, 0.09, 0.3,  0.03, 0.09, 0.04, 0.23, 0.7,  0.09, 0.27, 0.71, 0.08, 0.26, 0.08, 0.16,
    0.09, 0.13, 0.1,  0.08, 0.11, 0.33, 0.11, 0.28, 0.07, 0.1,  0.32, 0.22, 0.07, 0.05, 0.24, 0.38, 0.1,  0.15, 0.08,
    0.14, 0.1,  0.07, 0.04, 0.19, 0.56, 0.14, 0.58, 0.32, 0.82, 0.74, 0.15, 0.47, 0.17, 0.44, 0.15, 0.5,  0.48};
const std::vector<double> kWfns = {
    1, 1, 1, 1, 3, 2, 5, 4, 1, 2, 5, 2, 5, 5, 1, 2, 5, 2, 2, 5, 2, 1, 1, 1, 1, 2, 1, 2, 1, 1, 3, 4, 2, 1, 4, 5, 4, 1,
    4, 2, 5, 5, 1, 1, 2, 4, 1, 1, 2, 5, 5, 2, 1, 2, 5, 1, 2, 2, 2, 1, 5, 1, 1, 2, 5, 2, 1, 4, 5, 2, 4, 4, 1, 4, 1, 2,
    1, 4, 2, 1, 2, 3, 2, 4, 2, 1, 4, 5, 1, 1, 5, 4, 2, 2, 1, 1, 1, 3, 1, 2, 5, 2, 2, 5, 5, 5, 2, 4, 4, 5, 1, 1, 1};

}  // namespace

TEST(MetricsDelong, ASAHDataIsComplete) {
  ASSERT_EQ(kPoor.size(), 113u);
  ASSERT_EQ(kS100b.size(), 113u);
  ASSERT_EQ(kWfns.size(), 113u);
  long poor = 0;
  for (int v : kPoor) poor += v;
  EXPECT_EQ(poor, 41);  // aSAH: 72 Good, 41 Poor
}

TEST(MetricsDelong, VarianceAndCiMatchPROC) {
  const cm::AucWithCi s = cm::delong_auc(kS100b, kPoor);
  EXPECT_NEAR(s.auc, 0.7313686, 5e-8);
  EXPECT_NEAR(s.variance, 0.00266868245717244, 1e-15);
  EXPECT_NEAR(s.ci.lo, 0.6301182, 5e-8);
  EXPECT_NEAR(s.ci.hi, 0.8326189, 5e-8);
  const cm::AucWithCi w = cm::delong_auc(kWfns, kPoor);
  EXPECT_NEAR(w.auc, 0.8236789, 5e-8);
  EXPECT_NEAR(w.variance, 0.00146991470882363, 1e-15);
  EXPECT_NEAR(w.ci.lo, 0.7485349, 5e-8);
  EXPECT_NEAR(w.ci.hi, 0.8988228, 5e-8);
  EXPECT_DOUBLE_EQ(s.auc, cm::roc_auc(kS100b, kPoor));
}

TEST(MetricsDelong, PairedTestMatchesPROC) {
  const cm::DelongTest t = cm::delong_test(kS100b, kWfns, kPoor);
  EXPECT_NEAR(t.z, -2.20898359144091, 1e-10);
  EXPECT_NEAR(t.p_value, 0.0271757822291882, 1e-12);
  EXPECT_NEAR(t.difference, 0.7313686 - 0.8236789, 1e-7);
  const cm::DelongTest u = cm::delong_test(kWfns, kS100b, kPoor);  // symmetric
  EXPECT_NEAR(u.z, -t.z, 1e-12);
  const cm::DelongTest same = cm::delong_test(kS100b, kS100b, kPoor);
  EXPECT_EQ(same.z, 0);
  EXPECT_EQ(same.p_value, 1);
}

TEST(MetricsDelong, CiIsClippedAndSmallSamplesThrow) {
  const cm::AucWithCi perfect = cm::delong_auc({0.1, 0.2, 0.3, 0.8, 0.9}, {0, 0, 0, 1, 1});
  EXPECT_DOUBLE_EQ(perfect.auc, 1.0);
  EXPECT_LE(perfect.ci.hi, 1.0);
  EXPECT_THROW(cm::delong_auc({0.1, 0.2, 0.9}, {0, 0, 1}), covscreen::Error);  // one positive
  EXPECT_THROW(cm::delong_auc({0.1, 0.2, 0.9}, {0, 0, 0}), covscreen::Error);  // one class
  EXPECT_THROW(cm::delong_test({0.1, 0.2}, {0.1}, {0, 1}), covscreen::Error);
}
