#pragma once
// Everything `covscreen evaluate` reports about one model on one data set, at slice level and
// (when there are patient ids) at patient level, and its metrics.json form.
//
// The binary numbers are COVID-vs-rest on P(covid) = probs[:, positive] for any K >= 2:
// AUC with its DeLong 95% CI, average precision, ROC points, and at the chosen threshold the
// confusion counts, accuracy / precision / recall (sensitivity) / specificity with 95% Wilson
// intervals and F1. The K-class numbers use the decision rule of classification.h.
// A metric that is undefined on this data (AUC when every sample is of one class, precision
// with no positive calls, ...) is empty (null in JSON) and a note says why; never NaN.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "covscreen/metrics/call_rates.h"
#include "covscreen/metrics/classification.h"
#include "covscreen/metrics/patient.h"
#include "covscreen/metrics/roc.h"
#include "covscreen/metrics/threshold.h"

namespace covscreen::metrics {

struct EvalInput {
  std::vector<float> probs;              // N x K row-major class probabilities
  int num_classes = 0;                   // K
  std::vector<int> labels;               // N, index into `classes`; -1 = unlabelled (left out, counted)
  std::vector<std::string> patient_ids;  // N, or empty when the data has none
  std::vector<std::string> classes;      // K class names
  int positive = -1;                     // COVID class index; -1: covid_index(classes)
};

// Convenience: a N x K nested vector into EvalInput's flat form.
std::vector<float> flatten_probs(const std::vector<std::vector<float>>& probs, int* num_classes);

struct EvaluateOptions {
  ThresholdChoice threshold;  // decision threshold on P(covid); default fixed 0.5
  bool patient_level = true;  // when patient ids are present
  Aggregation aggregation = Aggregation::kMean;
  bool compute_ci = true;  // DeLong CI of the AUC
};

// The metrics of one level (slices or patients).
struct LevelMetrics {
  long n = 0;  // labelled samples evaluated
  long n_positive = 0;
  long n_negative = 0;
  std::optional<double> auc;  // COVID-vs-rest ROC AUC
  std::optional<double> auc_se;
  std::optional<Interval> auc_ci;
  std::optional<double> ap;  // average precision
  RocCurve roc;              // empty when undefined
  BinaryMetrics binary;      // at the threshold
  MultiClassMetrics multiclass;
  std::vector<std::string> notes;  // why something is undefined
};

struct Evaluation {
  std::vector<std::string> classes;
  int positive = -1;
  ThresholdChoice threshold;
  long n_total = 0;       // samples given
  long n_unlabelled = 0;  // left out (label -1)
  LevelMetrics slice;
  std::optional<LevelMetrics> patient;  // when patient ids are present and patient_level is set
  Aggregation aggregation = Aggregation::kMean;
  long n_patients = 0;
  long patient_skipped_no_id = 0;
  // Slice-level COVID calls per class of the data's own vocabulary (call_rates.h); filled by
  // the caller that knows the data's classes (screen/evaluate.cpp), empty otherwise.
  std::vector<ClassCallRate> by_data_class;
  // Where the model looks: per image, the share of its Grad-CAM mass (COVID class) inside the
  // lung fields; NaN where no lungs were found, -1 where the map is all zero. Filled by the
  // caller (src/evaluate), else empty.
  std::vector<double> cam_lung_share;
};

// The mean of the shares in [0, 1] (NaN when none), and how many images had no lungs or an
// all-zero map.
struct CamShareSummary {
  double mean = 0;
  long n = 0, no_lungs = 0, empty_map = 0;
};
CamShareSummary summarize_cam_share(const std::vector<double>& per_image);

// Throws covscreen::UsageError when there is no positive class (no COVID class in `classes` and
// positive < 0) or K < 2; covscreen::Error on mismatched sizes, labels >= K or no labelled sample.
Evaluation evaluate_predictions(const EvalInput& input, const EvaluateOptions& options = {});

// The metrics of one level at the threshold, computed from aggregated or slice predictions.
LevelMetrics evaluate_level(const std::vector<float>& probs, int num_classes, const std::vector<int>& labels,
                            const std::vector<std::string>& classes, int positive, double threshold, bool compute_ci);

// metrics.json: n, auc, auc_ci [lo, hi], auc_se, ap, accuracy (+ _ci), precision (+ _ci),
// recall (+ _ci), sensitivity (= recall), specificity (+ _ci), f1, threshold, threshold_method,
// threshold_description, confusion {labels, matrix [[tn, fp], [fn, tp]], tp, fp, tn, fn},
// confusion_multiclass {labels, matrix}, per_class {name: {precision, recall, f1, support,
// predicted, auc, ap}}, macro_auc, macro_f1, roc {fpr, tpr, thresholds (first = null, i.e. +inf)},
// classes, positive_class, n_total, n_unlabelled, n_positive, n_negative, notes, and
// patient_level (the same per-level fields plus aggregation, n_patients, label_rule) or null, and
// cam_lung_share {mean, n, no_lungs, empty_map} when it was measured.
nlohmann::json to_json(const Evaluation& e);
nlohmann::json to_json(const LevelMetrics& m, const std::vector<std::string>& classes, int positive);

}  // namespace covscreen::metrics
