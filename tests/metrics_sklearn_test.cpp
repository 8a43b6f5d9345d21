// Re-runs scikit-learn (Debian's /usr/bin/python3) at test time on seeded random data with many
// ties and compares every binary and K-class metric; the DeLong numbers are compared with the
// numpy implementation in tests/python/sklearn_reference.py. Skips when sklearn is absent.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <random>

#include "covscreen/metrics/delong.h"
#include "covscreen/metrics/evaluate.h"
#include "test_util.h"

namespace cm = covscreen::metrics;

namespace {

std::string run(const std::string& cmd, int* status) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) {
    *status = -1;
    return out;
  }
  char buf[4096];
  size_t got;
  while ((got = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, got);
  *status = pclose(p);
  return out;
}

void expect_vec(const std::vector<double>& got, const nlohmann::json& want, double tol, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i].get<double>(), tol) << what << " " << i;
}

}  // namespace

TEST(MetricsSklearn, AgreesWithSklearnOnRandomData) {
  const std::string py = covscreen::test::debian_python();
  int status = 0;
  if (py.empty()) COVSCREEN_SKIP() << "no /usr/bin/python3";
  run(py + " -c 'import sklearn, numpy' 2>/dev/null", &status);
  if (status != 0) COVSCREEN_SKIP() << "scikit-learn is not installed for /usr/bin/python3";

  std::mt19937 rng(1234);
  std::uniform_int_distribution<int> cls(0, 2);
  std::normal_distribution<double> noise(0, 0.25);
  const int n = 400, K = 3;
  std::vector<int> labels(n);
  std::vector<float> probs(n * K);
  std::vector<double> sa(n), sb(n);
  for (int i = 0; i < n; ++i) {
    labels[i] = cls(rng);
    for (int k = 0; k < K; ++k) {
      double v = 1 / (1 + std::exp(-(noise(rng) * 4 + (k == labels[i] ? 1.0 : -0.5))));
      probs[i * K + k] = std::round(v * 20) / 20;  // 21 levels: many ties
    }
    sa[i] = probs[i * K];
    sb[i] = std::round((sa[i] + noise(rng)) * 10) / 10;  // a worse, correlated score
  }
  const std::vector<int> pred = cm::predict_classes(probs, K, 0, 0.5);
  covscreen::test::TempDir dir;
  const std::string csv = dir.file("data.csv");
  {
    std::ofstream f(csv);
    f << "label,pred,s_a,s_b,p0,p1,p2\n";
    f.precision(17);
    for (int i = 0; i < n; ++i)
      f << labels[i] << "," << pred[i] << "," << sa[i] << "," << sb[i] << "," << probs[i * K] << "," << probs[i * K + 1]
        << "," << probs[i * K + 2] << "\n";
  }
  const std::string out =
      run(py + " " + COVSCREEN_SOURCE_DIR + "/tests/python/sklearn_reference.py check " + csv, &status);
  ASSERT_EQ(status, 0) << out;
  const nlohmann::json ref = nlohmann::json::parse(out);

  std::vector<int> yb(n);
  for (int i = 0; i < n; ++i) yb[i] = labels[i] == 0;
  EXPECT_NEAR(cm::roc_auc(sa, yb), ref["auc_a"].get<double>(), 1e-12);
  EXPECT_NEAR(cm::roc_auc(sb, yb), ref["auc_b"].get<double>(), 1e-12);
  EXPECT_NEAR(cm::average_precision(sa, yb), ref["ap_a"].get<double>(), 1e-12);
  const cm::RocCurve roc = cm::roc_curve(sa, yb);
  expect_vec(roc.fpr, ref["roc_fpr"], 1e-12, "fpr");
  expect_vec(roc.tpr, ref["roc_tpr"], 1e-12, "tpr");
  expect_vec({roc.thresholds.begin() + 1, roc.thresholds.end()}, ref["roc_thr"], 1e-12, "thresholds");
  const cm::RocCurve dropped = cm::roc_curve(sa, yb, true);
  expect_vec(dropped.fpr, ref["roc_drop_fpr"], 1e-12, "fpr (drop_intermediate)");
  expect_vec(dropped.tpr, ref["roc_drop_tpr"], 1e-12, "tpr (drop_intermediate)");

  const cm::AucWithCi d = cm::delong_auc(sa, yb);
  EXPECT_NEAR(d.auc, ref["delong_auc_a"].get<double>(), 1e-12);
  EXPECT_NEAR(d.variance, ref["delong_var_a"].get<double>(), 1e-14);
  EXPECT_NEAR(cm::delong_auc(sb, yb).variance, ref["delong_var_b"].get<double>(), 1e-14);
  EXPECT_NEAR(cm::delong_test(sa, sb, yb).z, ref["delong_z"].get<double>(), 1e-9);

  const cm::MultiClassMetrics m = cm::multiclass_metrics(probs, K, labels, pred, {"covid", "pneumonia", "normal"});
  EXPECT_EQ(nlohmann::json(m.confusion), ref["confusion"]);
  for (int k = 0; k < K; ++k) {
    EXPECT_NEAR(*m.per_class[k].auc, ref["ovr_auc"][k].get<double>(), 1e-12);
    EXPECT_NEAR(m.per_class[k].precision.value_or(0), ref["precision"][k].get<double>(), 1e-12);
    EXPECT_NEAR(m.per_class[k].recall.value_or(0), ref["recall"][k].get<double>(), 1e-12);
    EXPECT_NEAR(m.per_class[k].f1.value_or(0), ref["f1"][k].get<double>(), 1e-12);
    EXPECT_EQ(m.per_class[k].support, ref["support"][k].get<long>());
  }
  EXPECT_NEAR(*m.macro_auc, ref["macro_auc"].get<double>(), 1e-12);
  const cm::BinaryMetrics b = cm::binary_metrics(sa, yb, 0.5);
  EXPECT_NEAR(b.accuracy.value, ref["accuracy_at_0_5"].get<double>(), 1e-12);
  EXPECT_NEAR(*b.f1, ref["f1_at_0_5"].get<double>(), 1e-12);
}
