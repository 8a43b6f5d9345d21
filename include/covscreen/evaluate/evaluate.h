#pragma once
// `covscreen evaluate`: one or more checkpoints on one data set (pack, manifest or folder), or
// one checkpoint on DICOM studies (study level, with a labels CSV).
// Writes into out_dir: predictions.csv (columns path,label,patient_id,prob_<class>...,predicted,
// and cam_lung_share when measured;
// with several models, predictions_<name>.csv for the 2nd and later), and the report files of
// report/report.h (metrics.json, report.md, report.html, roc.svg, ...). Labels line up through
// the canonical vocabulary: a covid/non-covid model evaluates pneumonia/normal data as non-covid.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "covscreen/inference/inference.h"
#include "covscreen/metrics/patient.h"

namespace covscreen {

struct EvaluateJob {
  std::vector<std::string> models;  // checkpoint paths (at least one)
  std::string data;                 // pack, manifest CSV or folder
  std::string layout = "auto";
  std::string split;  // "" = all
  std::string out_dir;
  // Patient level: the mean or the max of the slice probabilities (metrics/patient.h).
  metrics::Aggregation aggregation = metrics::Aggregation::kMean;
  std::string cache_dir;  // on-the-fly packs; "" = <out_dir>/packs
  bool cam_share = true;  // Grad-CAM share inside the lungs, per image and mean (metrics.json)
  InferenceOptions inference;
  std::string command;  // recorded in the report
  // Study level (`evaluate --labels`): `data` is a folder of DICOM studies, `labels` a CSV with
  // columns study_uid,label or patient,label (patient = PatientID as in the files), screened by
  // screen/study.h with `rules` (a rules file; "" = the defaults), one model.
  std::string labels, rules;
};

struct EvaluateResult {
  std::vector<std::string> files;
  nlohmann::json metrics;  // what metrics.json holds
  size_t unreadable = 0;   // data files that could not be packed
};

// With `labels` set: one row per study in study_predictions.csv, the study-level metrics in
// metrics.json / report.*, and under metrics.json "run": the rules, and the AUC of every
// aggregation rule on the same slice probabilities ("aggregation_rules"), to choose one.
EvaluateResult run_evaluation(const EvaluateJob& opt);

}  // namespace covscreen
