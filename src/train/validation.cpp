#include "covscreen/train/validation.h"

#include <torch/torch.h>

#include "covscreen/core/error.h"
#include "covscreen/core/labels.h"
#include "covscreen/metrics/evaluate.h"
#include "covscreen/metrics/roc.h"

namespace covscreen {

ValidationSummary summarize_validation(const torch::Tensor& probs, const std::vector<int64_t>& labels,
                                       const std::vector<std::string>& classes, const metrics::ThresholdRule& rule) {
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
  std::vector<double> scores;
  std::vector<int> y;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0) continue;
    scores.push_back(in.probs[i * in.num_classes + in.positive]);
    y.push_back(labels[i] == in.positive ? 1 : 0);
  }
  opt.threshold = metrics::choose_threshold(scores, y, rule);
  metrics::Evaluation e = metrics::evaluate_predictions(in, opt);
  ValidationSummary s;
  if (!e.slice.auc)
    throw Error("validation AUC is undefined: " +
                (e.slice.notes.empty() ? std::string("one class only") : e.slice.notes.front()));
  s.auc = *e.slice.auc;
  s.threshold = e.threshold.threshold;
  s.threshold_rule = metrics::to_string(rule);
  s.metrics = metrics::to_json(e);
  s.metrics.erase("roc");  // keep log lines and checkpoints small
  return s;
}

ValidationSummary summarize_multilabel(const torch::Tensor& probs, const torch::Tensor& targets,
                                       const std::vector<std::string>& classes) {
  const auto p = probs.to(torch::kFloat64).contiguous();
  const auto t = targets.to(torch::kFloat64).contiguous();
  ValidationSummary s;
  s.threshold_rule = metrics::to_string(metrics::ThresholdRule{metrics::ThresholdMethod::kFixed, 0.5});
  nlohmann::json aucs = nlohmann::json::object(), positives = nlohmann::json::object();
  double sum = 0;
  int defined = 0;
  for (int64_t k = 0; k < p.size(1); ++k) {
    const auto pk = p.select(1, k).contiguous(), tk = t.select(1, k).contiguous();
    std::vector<double> scores(pk.data_ptr<double>(), pk.data_ptr<double>() + pk.numel());
    std::vector<int> y;
    int pos = 0;
    for (int64_t i = 0; i < tk.numel(); ++i) {
      y.push_back(tk[i].item<double>() >= 0.5 ? 1 : 0);
      pos += y.back();
    }
    const std::string& name = classes[static_cast<size_t>(k)];
    positives[name] = pos;
    if (pos == 0 || pos == static_cast<int>(y.size())) {
      aucs[name] = nullptr;  // one class only: undefined
      continue;
    }
    const double auc = metrics::roc_auc(scores, y);
    aucs[name] = auc;
    sum += auc;
    ++defined;
  }
  if (defined == 0) throw Error("validation AUC is undefined: no finding has both positives and negatives");
  s.auc = sum / defined;
  s.metrics = {{"auc_mean", s.auc}, {"auc", aucs}, {"positives", positives}, {"n", p.size(0)}};
  return s;
}

}  // namespace covscreen
