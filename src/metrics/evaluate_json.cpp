// metrics.json form of an Evaluation (see evaluate.h for the field list).
#include <cmath>
#include <limits>

#include "covscreen/metrics/evaluate.h"

namespace covscreen::metrics {
namespace {

using nlohmann::json;

json opt(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }
json ci(const std::optional<Interval>& v) { return v ? json::array({v->lo, v->hi}) : json(nullptr); }
json value(const Proportion& p) { return p.defined() ? json(p.value) : json(nullptr); }
json interval(const Proportion& p) { return p.defined() ? json::array({p.ci.lo, p.ci.hi}) : json(nullptr); }
json fraction(const Proportion& p) { return json{{"k", p.k}, {"n", p.n}}; }

}  // namespace

json to_json(const LevelMetrics& m, const std::vector<std::string>& classes, int positive) {
  const BinaryMetrics& b = m.binary;
  json j;
  j["n"] = m.n;
  j["n_positive"] = m.n_positive;
  j["n_negative"] = m.n_negative;
  j["auc"] = opt(m.auc);
  j["auc_ci"] = ci(m.auc_ci);
  j["auc_ci_method"] = "DeLong (Sun & Xu 2014), normal interval clipped to [0, 1]";
  j["auc_se"] = opt(m.auc_se);
  j["ap"] = opt(m.ap);
  j["accuracy"] = value(b.accuracy);
  j["accuracy_ci"] = interval(b.accuracy);
  j["precision"] = value(b.precision);
  j["precision_ci"] = interval(b.precision);
  j["recall"] = value(b.recall);
  j["recall_ci"] = interval(b.recall);
  j["sensitivity"] = value(b.recall);
  j["specificity"] = value(b.specificity);
  j["specificity_ci"] = interval(b.specificity);
  j["proportion_ci_method"] = "Wilson score, 95%";
  j["counts"] = {{"accuracy", fraction(b.accuracy)},
                 {"precision", fraction(b.precision)},
                 {"recall", fraction(b.recall)},
                 {"specificity", fraction(b.specificity)}};
  j["f1"] = opt(b.f1);
  const std::string pos = classes[positive];
  j["confusion"] = {
      {"labels", json::array({"not " + pos, pos})},
      {"matrix", json::array({json::array({b.counts.tn, b.counts.fp}), json::array({b.counts.fn, b.counts.tp})})},
      {"tp", b.counts.tp},
      {"fp", b.counts.fp},
      {"tn", b.counts.tn},
      {"fn", b.counts.fn}};
  j["confusion_multiclass"] = {
      {"labels", classes},
      {"matrix", m.multiclass.confusion},
      {"rule", "predicted = " + pos + " if P(" + pos + ") >= threshold, else the most probable other class"}};
  json per = json::object();
  for (const ClassMetrics& c : m.multiclass.per_class)
    per[c.name] = {
        {"precision", opt(c.precision)}, {"recall", opt(c.recall)}, {"f1", opt(c.f1)}, {"support", c.support},
        {"predicted", c.predicted},      {"auc", opt(c.auc)},       {"ap", opt(c.ap)}};
  j["per_class"] = per;
  j["macro_auc"] = opt(m.multiclass.macro_auc);
  j["macro_f1"] = opt(m.multiclass.macro_f1);
  // +inf (the first ROC threshold) is written as null.
  json thresholds = json::array();
  for (double t : m.roc.thresholds) thresholds.push_back(std::isfinite(t) ? json(t) : json(nullptr));
  j["roc"] = {{"fpr", m.roc.fpr}, {"tpr", m.roc.tpr}, {"thresholds", thresholds}};
  j["notes"] = m.notes;
  return j;
}

json to_json(const Evaluation& e) {
  json j = to_json(e.slice, e.classes, e.positive);
  j["level"] = "slice";
  j["classes"] = e.classes;
  j["positive_class"] = e.classes[e.positive];
  j["positive_index"] = e.positive;
  j["threshold"] = e.threshold.threshold;
  j["threshold_method"] = to_string(e.threshold.method);
  j["threshold_description"] = e.threshold.description;
  j["n_total"] = e.n_total;
  j["n_unlabelled"] = e.n_unlabelled;
  j["by_data_class"] = to_json(e.by_data_class);
  if (!e.cam_lung_share.empty()) {
    const CamShareSummary c = summarize_cam_share(e.cam_lung_share);
    j["cam_lung_share"] = {{"mean", c.n ? nlohmann::json(c.mean) : nlohmann::json()},
                           {"n", c.n},
                           {"no_lungs", c.no_lungs},
                           {"empty_map", c.empty_map},
                           {"meaning",
                            "share of the Grad-CAM mass (COVID class) inside the lung fields, mean over "
                            "the images where lungs were found"}};
  }
  if (e.patient) {
    json p = to_json(*e.patient, e.classes, e.positive);
    p["level"] = "patient";
    p["aggregation"] = aggregation_names().name(e.aggregation);
    p["n_patients"] = e.n_patients;
    p["threshold"] = e.threshold.threshold;
    p["label_rule"] =
        "patient is " + e.classes[e.positive] + " if any of its slices is; otherwise its most frequent slice label";
    p["skipped_no_patient_id"] = e.patient_skipped_no_id;
    j["patient_level"] = p;
  } else {
    j["patient_level"] = nullptr;
  }
  return j;
}

CamShareSummary summarize_cam_share(const std::vector<double>& per_image) {
  CamShareSummary c;
  double sum = 0;
  for (double v : per_image) {
    if (std::isnan(v)) {
      ++c.no_lungs;
    } else if (v < 0) {
      ++c.empty_map;
    } else {
      sum += v;
      ++c.n;
    }
  }
  c.mean = c.n ? sum / double(c.n) : std::numeric_limits<double>::quiet_NaN();
  return c;
}

}  // namespace covscreen::metrics
