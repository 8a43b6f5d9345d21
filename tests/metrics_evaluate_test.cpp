// K-class metrics, threshold selection, patient aggregation and the metrics.json form.
// The 3-class numbers are scikit-learn 1.2.1's, produced by (Debian /usr/bin/python3):
//   P = np.array(kProbs).reshape(9, 3); y = np.array(kLabels)
//   pred = [0 if p[0] >= 0.5 else 1 + argmax(p[1:]) for p in P]        # the documented decision rule
//   confusion_matrix(y, pred); precision_recall_fscore_support(y, pred); f1_score(y, pred, average="macro")
//   [roc_auc_score(y == k, P[:, k]) for k in 0..2]; roc_auc_score(np.eye(3)[y], P, average="macro")
//   [average_precision_score(y == k, P[:, k]) for k in 0..2]
#include <gtest/gtest.h>

#include <random>

#include "covscreen/core/error.h"
#include "covscreen/metrics/evaluate.h"
#include "metrics_binary_example.h"

namespace cm = covscreen::metrics;

namespace {

const std::vector<std::string> kClasses = {"covid", "pneumonia", "normal"};
const std::vector<float> kProbs = {0.9f, 0.1f, 0.2f, 0.6f, 0.3f, 0.1f, 0.4f, 0.5f,  0.2f, 0.7f, 0.2f, 0.6f, 0.2f, 0.8f,
                                   0.1f, 0.3f, 0.3f, 0.6f, 0.1f, 0.2f, 0.9f, 0.45f, 0.6f, 0.7f, 0.5f, 0.1f, 0.3f};
const std::vector<int> kLabels = {0, 0, 0, 1, 1, 2, 2, 2, 1};

}  // namespace

TEST(MetricsMulticlass, MatchesSklearn) {
  const std::vector<int> pred = cm::predict_classes(kProbs, 3, 0, 0.5);
  EXPECT_EQ(pred, (std::vector<int>{0, 0, 1, 0, 1, 2, 2, 2, 0}));
  const cm::MultiClassMetrics m = cm::multiclass_metrics(kProbs, 3, kLabels, pred, kClasses);
  EXPECT_EQ(m.confusion, (std::vector<std::vector<long>>{{2, 1, 0}, {2, 1, 0}, {0, 0, 3}}));
  const double prec[] = {0.5, 0.5, 1.0}, rec[] = {2.0 / 3, 1.0 / 3, 1.0}, f1[] = {0.5714285714285715, 0.4, 1.0};
  const double auc[] = {0.7777777777777778, 0.4444444444444444, 0.9722222222222223};
  const double ap[] = {0.7222222222222222, 0.5396825396825397, 0.9166666666666665};
  for (int k = 0; k < 3; ++k) {
    const cm::ClassMetrics& c = m.per_class[k];
    EXPECT_EQ(c.name, kClasses[k]);
    EXPECT_EQ(c.support, 3);
    EXPECT_NEAR(*c.precision, prec[k], 1e-12);
    EXPECT_NEAR(*c.recall, rec[k], 1e-12);
    EXPECT_NEAR(*c.f1, f1[k], 1e-12);
    EXPECT_NEAR(*c.auc, auc[k], 1e-7);  // float probabilities: ranks are exact, AP/AUC too
    EXPECT_NEAR(*c.ap, ap[k], 1e-7);
  }
  EXPECT_NEAR(*m.macro_auc, 0.7314814814814815, 1e-7);
  EXPECT_EQ(m.macro_auc_classes, 3);
  EXPECT_NEAR(*m.macro_f1, 0.6571428571428571, 1e-12);
}

TEST(MetricsMulticlass, PlainArgmaxWithoutPositive) {
  EXPECT_EQ(cm::predict_classes({0.2f, 0.7f, 0.1f, 0.5f, 0.1f, 0.4f}, 3, -1, 0.5), (std::vector<int>{1, 0}));
  EXPECT_THROW(cm::predict_classes({0.1f, 0.2f, 0.3f}, 2, 0, 0.5), covscreen::Error);
}

TEST(MetricsThreshold, YoudenAndTargetSensitivity) {
  // ROC (sklearn): thr 0.9 (0, 1/6), 0.8 (0, 1/3), 0.6 (1/6, 1/3), 0.4 (1/2, 1/2), 0.35 (1/2, 1), ...
  const cm::ThresholdChoice y = cm::choose_threshold(kS, kY, cm::ThresholdMethod::kYouden);
  EXPECT_DOUBLE_EQ(y.threshold, 0.35);  // J = 1 - 1/2
  EXPECT_NE(y.description.find("Youden"), std::string::npos);
  EXPECT_DOUBLE_EQ(cm::choose_threshold(kS, kY, cm::ThresholdMethod::kTargetSensitivity, 0.5).threshold, 0.4);
  EXPECT_DOUBLE_EQ(cm::choose_threshold(kS, kY, cm::ThresholdMethod::kTargetSensitivity, 0.9).threshold, 0.35);
  EXPECT_DOUBLE_EQ(cm::choose_threshold(kS, kY, cm::ThresholdMethod::kTargetSensitivity, 1.0 / 3).threshold, 0.8);
  EXPECT_DOUBLE_EQ(cm::choose_threshold(kS, kY, cm::ThresholdMethod::kFixed, 0.3).threshold, 0.3);
  EXPECT_THROW(cm::choose_threshold(kS, kY, cm::ThresholdMethod::kTargetSensitivity, 1.5), covscreen::UsageError);
  EXPECT_THROW(cm::choose_threshold(kS, std::vector<int>(12, 1), cm::ThresholdMethod::kYouden), covscreen::Error);
  const cm::ThresholdChoice back = cm::threshold_from_json(cm::to_json(y));
  EXPECT_DOUBLE_EQ(back.threshold, y.threshold);
  EXPECT_EQ(back.method, cm::ThresholdMethod::kYouden);
  EXPECT_EQ(back.description, y.description);
  EXPECT_THROW(cm::threshold_from_json(nlohmann::json::object()), covscreen::Error);
  EXPECT_THROW(cm::parse_threshold_method("best"), covscreen::UsageError);
}

// specificity>=S: the lowest threshold that keeps the false-positive share within 1 - S.
// Negatives of kS/kY, highest first: 0.6 0.4 0.4 0.2 0.1 0.05.
TEST(MetricsThreshold, TargetSpecificity) {
  const auto spec = [](double s) { return cm::choose_threshold(kS, kY, cm::ThresholdMethod::kTargetSpecificity, s); };
  EXPECT_DOUBLE_EQ(spec(0.9).threshold, 0.8);   // no false positive allowed: above 0.6
  EXPECT_DOUBLE_EQ(spec(0.8).threshold, 0.6);   // one of six: 0.6 may be called
  EXPECT_DOUBLE_EQ(spec(0.5).threshold, 0.35);  // three of six: 0.6, 0.4, 0.4
  EXPECT_NE(spec(0.8).description.find("specificity 0.833 (1 of 6 negatives called positive), sensitivity 0.333"),
            std::string::npos)
      << spec(0.8).description;
  const cm::ThresholdChoice back = cm::threshold_from_json(cm::to_json(spec(0.8)));
  EXPECT_EQ(back.method, cm::ThresholdMethod::kTargetSpecificity);
  EXPECT_DOUBLE_EQ(back.target, 0.8);
  // Negatives alone decide it; when no observed score keeps them out, just above the highest.
  const cm::ThresholdChoice only =
      cm::choose_threshold({0.3, 0.7, 0.7}, {0, 0, 0}, cm::ThresholdMethod::kTargetSpecificity, 1.0);
  EXPECT_GT(only.threshold, 0.7);
  EXPECT_LT(only.threshold, 0.7 + 1e-12);
  EXPECT_THROW(cm::choose_threshold({0.3, 0.7}, {1, 1}, cm::ThresholdMethod::kTargetSpecificity, 0.9),
               covscreen::Error);
  EXPECT_THROW(cm::choose_threshold(kS, kY, cm::ThresholdMethod::kTargetSpecificity, 0), covscreen::UsageError);
  // Against brute force over every observed score, with ties (scores on a grid of 0.05).
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<double> s(1 + rng() % 40);
    std::vector<int> y(s.size());
    for (size_t i = 0; i < s.size(); ++i) s[i] = 0.05 * static_cast<double>(rng() % 21), y[i] = rng() % 3 == 0;
    y[0] = 0;
    const double target = 0.05 * static_cast<double>(1 + rng() % 20);
    const double t = cm::choose_threshold(s, y, cm::ThresholdMethod::kTargetSpecificity, target).threshold;
    const auto specificity = [&](double thr) {
      double n = 0, tn = 0;
      for (size_t i = 0; i < s.size(); ++i)
        if (y[i] == 0) n += 1, tn += s[i] < thr;
      return tn / n;
    };
    EXPECT_GE(specificity(t), target - 1e-12) << trial;
    for (double v : s)
      if (v < t) EXPECT_LT(specificity(v), target - 1e-12) << trial << " " << v << " < " << t;
  }
}

TEST(MetricsPatient, MeanMaxAndLabelRule) {
  // 2 classes {covid, non-covid}; patients A (3 slices), B (2 slices, one covid-labelled), C (1, unlabelled)
  const std::vector<float> probs = {0.2f, 0.8f, 0.6f, 0.4f, 0.1f, 0.9f, 0.3f, 0.7f, 0.5f, 0.5f, 0.9f, 0.1f, 0.4f, 0.6f};
  const std::vector<int> labels = {1, 1, 1, 1, 0, -1, 1};
  const std::vector<std::string> ids = {"A", "A", "A", "B", "B", "C", ""};
  const cm::PatientPredictions mean = cm::aggregate_by_patient(probs, 2, labels, ids, cm::Aggregation::kMean, 0);
  ASSERT_EQ(mean.ids, (std::vector<std::string>{"A", "B"}));
  EXPECT_EQ(mean.num_slices, (std::vector<int>{3, 2}));
  EXPECT_NEAR(mean.probs[0], (0.2 + 0.6 + 0.1) / 3, 1e-6);
  EXPECT_NEAR(mean.probs[1], (0.8 + 0.4 + 0.9) / 3, 1e-6);
  EXPECT_NEAR(mean.probs[2], 0.4, 1e-6);
  EXPECT_EQ(mean.labels, (std::vector<int>{1, 0}));  // B has a covid slice -> covid
  EXPECT_EQ(mean.skipped_unlabelled, 1);
  EXPECT_EQ(mean.skipped_no_id, 1);
  const cm::PatientPredictions mx = cm::aggregate_by_patient(probs, 2, labels, ids, cm::Aggregation::kMax, 0);
  EXPECT_FLOAT_EQ(mx.probs[0], 0.6f);
  EXPECT_FLOAT_EQ(mx.probs[1], 0.9f);
  EXPECT_FLOAT_EQ(mx.probs[2], 0.5f);
  EXPECT_EQ(cm::aggregation_names().parse("max"), cm::Aggregation::kMax);
  EXPECT_EQ(cm::aggregation_names().name(cm::Aggregation::kMean), "mean");
  EXPECT_THROW(cm::aggregation_names().parse("median"), covscreen::UsageError);
  EXPECT_THROW(cm::aggregate_by_patient(probs, 2, labels, {"A"}, cm::Aggregation::kMean, 0), covscreen::Error);
}

TEST(MetricsEvaluate, JsonHasTheIssueFields) {
  cm::EvalInput in;
  in.probs = kProbs;
  in.probs.insert(in.probs.end(), {0.3f, 0.3f, 0.3f});  // one unlabelled sample
  in.num_classes = 3;
  in.labels = kLabels;
  in.labels.push_back(-1);
  in.classes = kClasses;
  in.patient_ids = {"p1", "p1", "p2", "p3", "p3", "p4", "p4", "p5", "p6", "p6"};
  const cm::Evaluation e = cm::evaluate_predictions(in);
  EXPECT_EQ(e.positive, 0);
  EXPECT_EQ(e.n_unlabelled, 1);
  EXPECT_EQ(e.slice.n, 9);
  EXPECT_NEAR(*e.slice.auc, 0.7777777777777778, 1e-7);  // = OvR AUC of covid above
  ASSERT_TRUE(e.slice.auc_ci.has_value());
  EXPECT_LE(e.slice.auc_ci->lo, *e.slice.auc);
  ASSERT_TRUE(e.patient.has_value());
  EXPECT_EQ(e.n_patients, 6);
  const nlohmann::json j = cm::to_json(e);
  for (const char* f : {"n", "auc", "auc_ci", "accuracy", "precision", "recall", "specificity", "f1", "threshold",
                        "confusion", "per_class", "patient_level", "ap", "roc", "classes", "positive_class"})
    EXPECT_TRUE(j.contains(f)) << f;
  for (const char* f : {"n", "auc", "auc_ci", "accuracy", "precision", "recall", "specificity", "f1", "confusion",
                        "per_class", "aggregation", "n_patients"})
    EXPECT_TRUE(j["patient_level"].contains(f)) << f;
  EXPECT_EQ(j["n"], 9);
  EXPECT_EQ(j["patient_level"]["n"], 6);
  EXPECT_EQ(j["positive_class"], "covid");
  EXPECT_EQ(j["confusion"]["tp"].get<long>() + j["confusion"]["fn"].get<long>(), 3);
  EXPECT_TRUE(j["roc"]["thresholds"][0].is_null());  // +inf
  EXPECT_EQ(j["per_class"]["normal"]["support"], 3);
  // Round trip through text: no NaN, no inf.
  EXPECT_NO_THROW(nlohmann::json::parse(j.dump()));
}

TEST(MetricsEvaluate, OneClassGivesNullAucWithNoteNotNan) {
  cm::EvalInput in;
  in.probs = {0.9f, 0.1f, 0.7f, 0.3f, 0.4f, 0.6f};
  in.num_classes = 2;
  in.labels = {0, 0, 0};
  in.classes = {"COVID", "NonCOVID"};
  const cm::Evaluation e = cm::evaluate_predictions(in);
  EXPECT_FALSE(e.slice.auc.has_value());
  EXPECT_DOUBLE_EQ(e.slice.binary.recall.value, 2.0 / 3);
  EXPECT_FALSE(e.slice.binary.specificity.defined());
  ASSERT_FALSE(e.slice.notes.empty());
  EXPECT_NE(e.slice.notes[0].find("all 3 samples are of one class"), std::string::npos);
  const nlohmann::json j = cm::to_json(e);
  EXPECT_TRUE(j["auc"].is_null());
  EXPECT_TRUE(j["specificity"].is_null());
  EXPECT_TRUE(j["patient_level"].is_null());
}

TEST(MetricsEvaluate, UsageErrors) {
  cm::EvalInput in;
  in.probs = {0.9f, 0.1f};
  in.num_classes = 2;
  in.labels = {0};
  in.classes = {"cat", "dog"};
  EXPECT_THROW(cm::evaluate_predictions(in), covscreen::UsageError);  // no COVID class
  in.classes = {"covid", "normal"};
  in.labels = {-1};
  EXPECT_THROW(cm::evaluate_predictions(in), covscreen::Error);  // nothing labelled
  in.labels = {0, 1};
  EXPECT_THROW(cm::evaluate_predictions(in), covscreen::Error);  // size mismatch
  int k = 0;
  EXPECT_EQ(cm::flatten_probs({{0.1f, 0.9f}, {0.4f, 0.6f}}, &k), (std::vector<float>{0.1f, 0.9f, 0.4f, 0.6f}));
  EXPECT_EQ(k, 2);
}
