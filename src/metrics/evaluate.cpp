#include "covscreen/metrics/evaluate.h"

#include "covscreen/core/error.h"
#include "covscreen/core/labels.h"
#include "covscreen/metrics/delong.h"

namespace covscreen::metrics {

std::vector<float> flatten_probs(const std::vector<std::vector<float>>& probs, int* num_classes) {
  const size_t K = probs.empty() ? 0 : probs.front().size();
  std::vector<float> flat;
  flat.reserve(probs.size() * K);
  for (size_t i = 0; i < probs.size(); ++i) {
    if (probs[i].size() != K)
      throw Error("metrics: row " + std::to_string(i) + " has " + std::to_string(probs[i].size()) +
                  " probabilities, row 0 has " + std::to_string(K));
    flat.insert(flat.end(), probs[i].begin(), probs[i].end());
  }
  if (num_classes) *num_classes = static_cast<int>(K);
  return flat;
}

LevelMetrics evaluate_level(const std::vector<float>& probs, int num_classes, const std::vector<int>& labels,
                            const std::vector<std::string>& classes, int positive, double threshold, bool compute_ci) {
  const size_t K = static_cast<size_t>(num_classes);
  const size_t n = labels.size();
  LevelMetrics m;
  m.n = static_cast<long>(n);
  std::vector<double> score(n);
  std::vector<int> y(n);
  for (size_t i = 0; i < n; ++i) {
    score[i] = probs[i * K + positive];
    y[i] = labels[i] == positive;
    (y[i] ? m.n_positive : m.n_negative) += 1;
  }
  if (m.n_positive > 0 && m.n_negative > 0) {
    m.auc = roc_auc(score, y);
    m.roc = roc_curve(score, y);
    if (compute_ci) {
      if (m.n_positive >= 2 && m.n_negative >= 2) {
        const AucWithCi d = delong_auc(score, y);
        m.auc_se = d.se;
        m.auc_ci = d.ci;
      } else {
        m.notes.push_back(
            "AUC confidence interval is undefined: DeLong needs at least 2 positive and 2 negative "
            "samples (got " +
            std::to_string(m.n_positive) + " and " + std::to_string(m.n_negative) + ")");
      }
    }
  } else {
    m.notes.push_back("AUC and the ROC curve are undefined: all " + std::to_string(n) + " samples are of one class (" +
                      (m.n_positive == 0 ? "none is " : "all are ") + classes[positive] + ")");
  }
  if (m.n_positive > 0) m.ap = average_precision(score, y);
  m.binary = binary_metrics(score, y, threshold);
  if (!m.binary.precision.defined())
    m.notes.push_back("precision is undefined: no sample was called " + classes[positive]);
  if (!m.binary.recall.defined())
    m.notes.push_back("recall (sensitivity) is undefined: no " + classes[positive] + " sample");
  if (!m.binary.specificity.defined())
    m.notes.push_back("specificity is undefined: no sample other than " + classes[positive]);
  const std::vector<int> pred = predict_classes(probs, num_classes, positive, threshold);
  m.multiclass = multiclass_metrics(probs, num_classes, labels, pred, classes);
  if (m.multiclass.macro_auc_classes < num_classes && m.multiclass.macro_auc)
    m.notes.push_back("macro AUC is over " + std::to_string(m.multiclass.macro_auc_classes) + " of " +
                      std::to_string(num_classes) + " classes (the others are absent or are every sample)");
  return m;
}

Evaluation evaluate_predictions(const EvalInput& in, const EvaluateOptions& opt) {
  const int K = in.num_classes;
  if (K < 2) throw UsageError("evaluate: needs at least 2 classes, got " + std::to_string(K));
  if (in.classes.size() != static_cast<size_t>(K))
    throw Error("evaluate: " + std::to_string(in.classes.size()) + " class names for " + std::to_string(K) +
                " classes");
  const size_t n = in.labels.size();
  if (in.probs.size() != n * static_cast<size_t>(K))
    throw Error("evaluate: " + std::to_string(in.probs.size()) + " probabilities for " + std::to_string(n) +
                " samples x " + std::to_string(K) + " classes");
  if (!in.patient_ids.empty() && in.patient_ids.size() != n)
    throw Error("evaluate: " + std::to_string(in.patient_ids.size()) + " patient ids for " + std::to_string(n) +
                " samples");
  Evaluation e;
  e.classes = in.classes;
  e.positive = in.positive >= 0 ? in.positive : covid_index(in.classes);
  if (e.positive < 0 || e.positive >= K) {
    std::string names;
    for (const auto& c : in.classes) names += (names.empty() ? "" : ", ") + c;
    throw UsageError("evaluate: no COVID class among the model's classes (" + names +
                     "); cannot compute COVID-vs-rest metrics");
  }
  e.threshold = opt.threshold;
  e.aggregation = opt.aggregation;
  e.n_total = static_cast<long>(n);

  std::vector<float> probs;
  std::vector<int> labels;
  probs.reserve(in.probs.size());
  for (size_t i = 0; i < n; ++i) {
    if (in.labels[i] >= K)
      throw Error("evaluate: label " + std::to_string(in.labels[i]) + " at index " + std::to_string(i) +
                  " is not a class index (K = " + std::to_string(K) + ")");
    if (in.labels[i] < 0) {
      ++e.n_unlabelled;
      continue;
    }
    labels.push_back(in.labels[i]);
    probs.insert(probs.end(), in.probs.begin() + i * K, in.probs.begin() + (i + 1) * K);
  }
  if (labels.empty())
    throw Error("evaluate: no labelled sample among " + std::to_string(n) + " (" + std::to_string(e.n_unlabelled) +
                " unlabelled); nothing to evaluate");
  e.slice = evaluate_level(probs, K, labels, in.classes, e.positive, e.threshold.threshold, opt.compute_ci);
  if (e.n_unlabelled > 0) e.slice.notes.push_back(std::to_string(e.n_unlabelled) + " unlabelled samples were left out");

  bool have_ids = false;
  for (const auto& id : in.patient_ids) have_ids = have_ids || !id.empty();
  if (opt.patient_level && have_ids) {
    const PatientPredictions pp =
        aggregate_by_patient(in.probs, K, in.labels, in.patient_ids, opt.aggregation, e.positive);
    e.n_patients = static_cast<long>(pp.ids.size());
    e.patient_skipped_no_id = pp.skipped_no_id;
    if (!pp.ids.empty()) {
      e.patient = evaluate_level(pp.probs, K, pp.labels, in.classes, e.positive, e.threshold.threshold, opt.compute_ci);
      if (pp.skipped_no_id > 0)
        e.patient->notes.push_back(std::to_string(pp.skipped_no_id) +
                                   " labelled samples without a patient id were left out");
    }
  }
  return e;
}

}  // namespace covscreen::metrics
