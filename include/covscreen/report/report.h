#pragma once
// The files of `covscreen evaluate --out DIR` other than predictions.csv:
//   metrics.json   to_json(Evaluation) of the first model at the top level (its headline fields:
//                  n, auc, auc_ci, accuracy, precision, recall, specificity, f1, threshold,
//                  confusion, per_class, patient_level, ...), plus "model", "data", "created",
//                  "notice" and, for several models, "models": [{name, path, description, metrics}]
//   report.md      readable tables: slice- and patient-level metrics with 95% CIs, confusion
//                  matrices, per-class metrics, the threshold and how it was chosen, data and models
//   report.html    the same content, self-contained (inline SVG, plain CSS), with a visible
//                  "research use, not a medical device" notice
//   roc.svg        slice-level ROC curves of all models overlaid
//   roc_patient.svg    patient-level ROC curves (only when there are patient-level results)
//   confusion.svg  the first model's K x K confusion matrix at the threshold
// Every file is written atomically (temp file + rename); the directory is created if needed.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "covscreen/metrics/evaluate.h"

namespace covscreen::report {

inline constexpr const char* kResearchNotice =
    "Research use only. This is not a medical device and must not be used to diagnose, treat or "
    "rule out COVID-19 or any other condition.";

struct ModelReport {
  std::string name;         // short name for legends and tables (e.g. "deep-ct-net")
  std::string path;         // checkpoint path
  std::string description;  // free text: architecture, training data, epochs...
  metrics::Evaluation evaluation;
};

struct ReportInput {
  std::string title = "covscreen evaluation";
  std::string data_description;     // what was evaluated: path, layout, split, counts
  std::vector<ModelReport> models;  // at least one; several models = same data
  std::string created;              // timestamp text; empty = now (UTC, ISO 8601)
  std::string command;              // the command line, optional
  nlohmann::json extra;             // optional, stored in metrics.json under "run"
};

struct ReportFiles {
  std::vector<std::string> paths;  // every file written, in order
};

// Throws covscreen::UsageError without models, covscreen::FileError when a file cannot be written.
ReportFiles write_report(const std::string& dir, const ReportInput& input);

// metrics.json's content, for callers that want it in memory.
nlohmann::json report_json(const ReportInput& input);

}  // namespace covscreen::report
