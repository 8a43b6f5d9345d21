#pragma once
// `covscreen evaluate`: one or more checkpoints on one data set (pack, manifest or folder).
// Writes into out_dir: predictions.csv (columns path,label,patient_id,prob_<class>...,predicted;
// with several models, predictions_<name>.csv for the 2nd and later), and the report files of
// report/report.h (metrics.json, report.md, report.html, roc.svg, ...). Labels line up through
// the canonical vocabulary: a covid/non-covid model evaluates pneumonia/normal data as non-covid.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "covscreen/inference/inference.h"

namespace covscreen {

struct EvaluateJob {
  std::vector<std::string> models;  // checkpoint paths (at least one)
  std::string data;                 // pack, manifest CSV or folder
  std::string layout = "auto";
  std::string split;  // "" = all
  std::string out_dir;
  std::string aggregation = "mean";  // patient-level: mean | max
  std::string cache_dir;             // on-the-fly packs; "" = <out_dir>/packs
  InferenceOptions inference;
  std::string command;  // recorded in the report
};

struct EvaluateResult {
  std::vector<std::string> files;
  nlohmann::json metrics;  // what metrics.json holds
  size_t unreadable = 0;   // data files that could not be packed
};

EvaluateResult run_evaluation(const EvaluateJob& opt);

}  // namespace covscreen
