#pragma once
// What training needs from the metrics on validation data after each epoch: the COVID-vs-rest
// AUC that early stopping and best.ckpt follow, the threshold chosen by the configured rule,
// and the metrics JSON written to log.jsonl and into the checkpoint.
#include <torch/types.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "covscreen/metrics/threshold.h"

namespace covscreen {

struct ValidationSummary {
  double auc = 0;
  double threshold = 0.5;
  std::string threshold_rule;
  nlohmann::json metrics;
};

// probs: float [N, K]; labels: N entries (-1 = unlabelled, skipped).
ValidationSummary summarize_validation(const torch::Tensor& probs, const std::vector<int64_t>& labels,
                                       const std::vector<std::string>& classes, const metrics::ThresholdRule& rule);

// Multi-label (Pack::targets): probs and targets float [N, K]. auc = the mean AUC over the
// findings that have both positives and negatives; metrics = {"auc_mean", "auc": {finding: AUC
// or null}, "positives": {finding: n}}; the threshold stays 0.5 (the findings are outputs, not
// a screening decision).
ValidationSummary summarize_multilabel(const torch::Tensor& probs, const torch::Tensor& targets,
                                       const std::vector<std::string>& classes);

}  // namespace covscreen
