#include "covscreen/train/validation.h"

#include <torch/torch.h>

#include "covscreen/core/error.h"
#include "covscreen/core/labels.h"
#include "covscreen/metrics/evaluate.h"

namespace covscreen {

ValidationSummary summarize_validation(const torch::Tensor& probs, const std::vector<int64_t>& labels,
                                       const std::vector<std::string>& classes, const std::string& threshold_rule) {
  auto p = probs.to(torch::kFloat32).contiguous();
  metrics::EvalInput in;
  in.num_classes = static_cast<int>(p.size(1));
  in.probs.assign(p.data_ptr<float>(), p.data_ptr<float>() + p.numel());
  in.labels.assign(labels.begin(), labels.end());
  in.classes = classes;
  in.positive = covid_index(classes) >= 0 ? covid_index(classes) : 0;

  // The threshold is chosen on these (validation) predictions by the configured rule.
  metrics::EvaluateOptions opt;
  opt.patient_level = false;
  if (threshold_rule != "0.5") {
    std::vector<double> scores;
    std::vector<int> y;
    for (size_t i = 0; i < labels.size(); ++i) {
      if (labels[i] < 0) continue;
      scores.push_back(in.probs[i * in.num_classes + in.positive]);
      y.push_back(labels[i] == in.positive ? 1 : 0);
    }
    if (threshold_rule == "youden") {
      opt.threshold = metrics::choose_threshold(scores, y, metrics::ThresholdMethod::kYouden);
    } else {
      const double target = std::stod(threshold_rule.substr(std::string("sensitivity>=").size()));
      opt.threshold = metrics::choose_threshold(scores, y, metrics::ThresholdMethod::kTargetSensitivity, target);
    }
  }
  metrics::Evaluation e = metrics::evaluate_predictions(in, opt);
  ValidationSummary s;
  if (!e.slice.auc) throw Error("validation AUC is undefined: " +
                                (e.slice.notes.empty() ? std::string("one class only") : e.slice.notes.front()));
  s.auc = *e.slice.auc;
  s.threshold = e.threshold.threshold;
  s.threshold_rule = threshold_rule;
  s.metrics = metrics::to_json(e);
  s.metrics.erase("roc");  // keep log lines and checkpoints small
  return s;
}

}  // namespace covscreen
