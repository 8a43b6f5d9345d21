#include "covscreen/report/report.h"

#include <ctime>
#include <filesystem>

#include "covscreen/core/container.h"
#include "covscreen/core/error.h"
#include "covscreen/core/strings.h"
#include "covscreen/report/svg.h"
#include "document.h"
#include "format.h"

namespace covscreen::report {
namespace {

using detail::fixed;
using detail::opt;
using detail::proportion;
using detail::value_ci;
using metrics::Evaluation;
using metrics::LevelMetrics;

std::string created(const ReportInput& in) { return in.created.empty() ? utc_now() : in.created; }

void require_models(const ReportInput& in) {
  if (in.models.empty()) throw UsageError("report: no model results to report");
}

std::string confusion_file(size_t model) {
  return model == 0 ? "confusion.svg" : "confusion_" + std::to_string(model + 1) + ".svg";
}

std::string positive_name(const Evaluation& e) { return e.classes[e.positive]; }

std::vector<std::string> summary_header() {
  return {"Model", "n (pos / neg)", "AUC (95% CI)", "AP", "Accuracy", "Sensitivity", "Specificity", "Precision", "F1"};
}

std::vector<std::string> summary_row(const std::string& name, const LevelMetrics& m) {
  const metrics::BinaryMetrics& b = m.binary;
  return {name,
          std::to_string(m.n) + " (" + std::to_string(m.n_positive) + " / " + std::to_string(m.n_negative) + ")",
          value_ci(m.auc, m.auc_ci),
          opt(m.ap),
          proportion(b.accuracy),
          proportion(b.recall),
          proportion(b.specificity),
          proportion(b.precision),
          opt(b.f1)};
}

void confusion_table(detail::Document& d, const LevelMetrics& m, const std::vector<std::string>& classes) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> head{"true \\ predicted"};
  head.insert(head.end(), classes.begin(), classes.end());
  head.push_back("total");
  rows.push_back(head);
  for (size_t i = 0; i < classes.size(); ++i) {
    std::vector<std::string> r{classes[i]};
    long total = 0;
    for (long v : m.multiclass.confusion[i]) {
      r.push_back(std::to_string(v));
      total += v;
    }
    r.push_back(std::to_string(total));
    rows.push_back(r);
  }
  d.table(rows);
}

void per_class_table(detail::Document& d, const LevelMetrics& m) {
  std::vector<std::vector<std::string>> rows{
      {"Class", "Support", "Predicted", "Precision", "Recall", "F1", "AUC (one-vs-rest)", "AP (one-vs-rest)"}};
  for (const metrics::ClassMetrics& c : m.multiclass.per_class)
    rows.push_back({c.name, std::to_string(c.support), std::to_string(c.predicted), opt(c.precision), opt(c.recall),
                    opt(c.f1), opt(c.auc), opt(c.ap)});
  rows.push_back({"macro average", "", "", "", "", opt(m.multiclass.macro_f1),
                  opt(m.multiclass.macro_auc) +
                      (m.multiclass.macro_auc_classes > 0 &&
                               m.multiclass.macro_auc_classes < static_cast<int>(m.multiclass.per_class.size())
                           ? " (" + std::to_string(m.multiclass.macro_auc_classes) + " classes)"
                           : ""),
                  ""});
  d.table(rows);
}

void level_details(detail::Document& d, const std::string& level, const LevelMetrics& m, const Evaluation& e) {
  const std::string pos = positive_name(e);
  d.heading(level + ": " + pos + " vs rest at threshold " + fixed(e.threshold.threshold, 4), 3);
  const auto& c = m.binary.counts;
  d.table({{"true \\ predicted", "not " + pos, pos},
           {"not " + pos, std::to_string(c.tn) + " (TN)", std::to_string(c.fp) + " (FP)"},
           {pos, std::to_string(c.fn) + " (FN)", std::to_string(c.tp) + " (TP)"}});
  d.heading(level + ": all classes", 3);
  confusion_table(d, m, e.classes);
  per_class_table(d, m);
  if (!m.notes.empty()) d.list(m.notes);
}

// COVID calls per class of the data's own vocabulary: the false-positive rate on other
// pneumonia, normal, ... (and the sensitivity on COVID), one row per model.
void by_data_class_table(detail::Document& d, const ReportInput& in, const std::string& pos) {
  const auto& first = in.models.front().evaluation.by_data_class;
  if (first.empty()) return;
  d.heading("Called " + pos + ", by the data's own classes (slice level)");
  std::vector<std::string> head{"Model"};
  for (const auto& r : first) head.push_back(r.data_class + (r.covid ? " (sensitivity)" : " (false-positive rate)"));
  std::vector<std::vector<std::string>> rows{head};
  for (const ModelReport& m : in.models) {
    std::vector<std::string> row{m.name};
    for (const auto& r : m.evaluation.by_data_class) row.push_back(proportion(r.called_covid));
    rows.push_back(row);
  }
  d.table(rows);
  d.paragraph("Share of each class's images with P(" + pos + ") >= the threshold: value (95% Wilson interval) k/n.");
}

// Where each model looks: the share of Grad-CAM mass inside the lung fields.
void cam_share_table(detail::Document& d, const ReportInput& in, const std::string& pos) {
  std::vector<std::vector<std::string>> rows{
      {"Model", "Grad-CAM share inside the lungs (mean)", "images", "images without lungs found", "all-zero maps"}};
  for (const ModelReport& m : in.models) {
    if (m.evaluation.cam_lung_share.empty()) continue;
    const metrics::CamShareSummary c = metrics::summarize_cam_share(m.evaluation.cam_lung_share);
    char v[32];
    std::snprintf(v, sizeof v, "%.3f", c.mean);
    rows.push_back(
        {m.name, c.n ? v : "-", std::to_string(c.n), std::to_string(c.no_lungs), std::to_string(c.empty_map)});
  }
  if (rows.size() == 1) return;
  d.heading("Where the models look");
  d.table(rows);
  d.paragraph("Per image, the share of the Grad-CAM map of P(" + pos +
              ") that falls inside the lung fields found by preprocess/lung_region.h on the stage-1 image, "
              "averaged over the images where lungs were found. A good AUC with a low share comes from "
              "outside the lungs (borders, text, devices): a shortcut.");
}

detail::Document build(const ReportInput& in) {
  require_models(in);
  const Evaluation& first = in.models.front().evaluation;
  const std::string pos = positive_name(first);
  detail::Document d;
  d.heading(in.title, 1);
  d.notice(kResearchNotice);
  d.paragraph("Created " + created(in) + (in.command.empty() ? "." : " by: " + in.command));

  d.heading("Data");
  if (!in.data_description.empty()) d.paragraph(in.data_description);
  std::string classes;
  for (size_t k = 0; k < first.classes.size(); ++k)
    classes += (k ? ", " : "") + first.classes[k] + (static_cast<int>(k) == first.positive ? " (positive)" : "");
  std::vector<std::string> facts{"Classes: " + classes,
                                 "Samples: " + std::to_string(first.n_total) + " (" + std::to_string(first.slice.n) +
                                     " labelled, " + std::to_string(first.n_unlabelled) + " unlabelled and left out)"};
  if (first.patient)
    facts.push_back("Patients: " + std::to_string(first.n_patients) + " (patient probability = " +
                    metrics::aggregation_names().name(first.aggregation) + " of its slice probabilities)");
  else
    facts.push_back("Patients: no patient ids, so no patient-level results");
  d.list(facts);

  d.heading("Models");
  std::vector<std::vector<std::string>> models{{"Model", "Checkpoint", "Description"}};
  for (const ModelReport& m : in.models) models.push_back({m.name, m.path, m.description});
  d.table(models);

  d.heading("Decision threshold");
  std::vector<std::vector<std::string>> thr{{"Model", "Threshold on P(" + pos + ")", "Method", "How it was chosen"}};
  for (const ModelReport& m : in.models)
    thr.push_back({m.name, fixed(m.evaluation.threshold.threshold, 4),
                   metrics::to_string(m.evaluation.threshold.method), m.evaluation.threshold.description});
  d.table(thr);
  d.paragraph("A sample is called " + pos + " when P(" + pos +
              ") >= threshold; otherwise it gets the most probable "
              "other class. The same threshold is used at patient level.");

  d.heading("Slice-level results (" + pos + " vs rest)");
  std::vector<std::vector<std::string>> rows{summary_header()};
  std::vector<RocSeries> series;
  for (const ModelReport& m : in.models) {
    rows.push_back(summary_row(m.name, m.evaluation.slice));
    series.push_back(roc_series(m.name, m.evaluation.slice));
  }
  d.table(rows);
  d.paragraph("Proportions: value (95% Wilson interval) k/n. AUC: 95% DeLong interval.");
  d.figure("ROC curves, slice level", roc_svg(series, "ROC — slice level (" + pos + " vs rest)"), "roc.svg");

  by_data_class_table(d, in, pos);
  cam_share_table(d, in, pos);

  bool any_patient = false;
  for (const ModelReport& m : in.models) any_patient = any_patient || m.evaluation.patient.has_value();
  if (any_patient) {
    d.heading("Patient-level results (" + pos + " vs rest)");
    d.paragraph("Each patient's probability of a class is the " + metrics::aggregation_names().name(first.aggregation) +
                " of that class's slice probabilities; a patient is " + pos + " when any of its slices is labelled " +
                pos + ", otherwise it takes its most frequent slice label.");
    std::vector<std::vector<std::string>> prow{summary_header()};
    std::vector<RocSeries> pseries;
    for (const ModelReport& m : in.models)
      if (m.evaluation.patient) {
        prow.push_back(summary_row(m.name, *m.evaluation.patient));
        pseries.push_back(roc_series(m.name, *m.evaluation.patient));
      }
    d.table(prow);
    d.figure("ROC curves, patient level", roc_svg(pseries, "ROC — patient level (" + pos + " vs rest)"),
             "roc_patient.svg");
  }

  for (size_t i = 0; i < in.models.size(); ++i) {
    const ModelReport& m = in.models[i];
    d.heading("Details: " + m.name);
    level_details(d, "Slice level", m.evaluation.slice, m.evaluation);
    d.figure(
        "Confusion matrix, slice level, " + m.name,
        confusion_svg(m.evaluation.slice.multiclass.confusion, m.evaluation.classes, "Confusion matrix — " + m.name),
        confusion_file(i));
    if (m.evaluation.patient) level_details(d, "Patient level", *m.evaluation.patient, m.evaluation);
  }

  d.heading("Methods");
  d.list({"AUC: area under the ROC curve of P(" + pos +
              "), equal to the Mann-Whitney statistic with ties counted 1/2 "
              "(scikit-learn's roc_auc_score).",
          "AUC 95% CI: DeLong et al. (1988) variance computed with the fast algorithm of Sun & Xu (2014); "
          "AUC +- 1.96 SE, clipped to [0, 1] (as pROC's ci.auc).",
          "Accuracy, sensitivity, specificity, precision: 95% Wilson score intervals.",
          "AP: average precision, sum over thresholds of (recall step) x precision (scikit-learn's "
          "average_precision_score).",
          "Per-class AUC and AP are one-vs-rest on that class's probability; the macro AUC is their mean over the "
          "classes present.",
          "A threshold chosen on the evaluated data itself (rather than on a validation split) flatters the "
          "threshold-dependent numbers; the AUC does not depend on it."});
  return d;
}

}  // namespace

nlohmann::json report_json(const ReportInput& in) {
  require_models(in);
  const ModelReport& first = in.models.front();
  nlohmann::json j = metrics::to_json(first.evaluation);
  j["model"] = {{"name", first.name}, {"path", first.path}, {"description", first.description}};
  j["data"] = in.data_description;
  j["created"] = created(in);
  j["notice"] = kResearchNotice;
  if (!in.command.empty()) j["command"] = in.command;
  if (!in.extra.is_null()) j["run"] = in.extra;
  if (in.models.size() > 1) {
    nlohmann::json all = nlohmann::json::array();
    for (const ModelReport& m : in.models)
      all.push_back({{"name", m.name},
                     {"path", m.path},
                     {"description", m.description},
                     {"metrics", metrics::to_json(m.evaluation)}});
    j["models"] = all;
  }
  return j;
}

ReportFiles write_report(const std::string& dir, const ReportInput& input) {
  require_models(input);
  ReportInput in = input;
  if (in.created.empty()) in.created = utc_now();  // one timestamp for every file
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw FileError(dir, "cannot create the report directory: " + ec.message());
  ReportFiles files;
  auto put = [&](const std::string& name, const std::string& bytes) {
    const std::string path = (std::filesystem::path(dir) / name).string();
    write_file_atomic(path, bytes);
    files.paths.push_back(path);
  };
  put("metrics.json", report_json(in).dump(2) + "\n");
  const detail::Document d = build(in);
  put("report.md", d.markdown());
  put("report.html", d.html(in.title));
  const std::string pos = positive_name(in.models.front().evaluation);
  std::vector<RocSeries> series, pseries;
  for (const ModelReport& m : in.models) {
    series.push_back(roc_series(m.name, m.evaluation.slice));
    if (m.evaluation.patient) pseries.push_back(roc_series(m.name, *m.evaluation.patient));
  }
  put("roc.svg", roc_svg(series, "ROC — slice level (" + pos + " vs rest)"));
  if (!pseries.empty()) put("roc_patient.svg", roc_svg(pseries, "ROC — patient level (" + pos + " vs rest)"));
  for (size_t i = 0; i < in.models.size(); ++i) {
    const ModelReport& m = in.models[i];
    put(confusion_file(i),
        confusion_svg(m.evaluation.slice.multiclass.confusion, m.evaluation.classes, "Confusion matrix — " + m.name));
  }
  return files;
}

}  // namespace covscreen::report
