#pragma once
// Choosing the decision threshold on P(positive), normally on the validation split, so the
// test split is not used to tune it. The choice is data: it is stored in the checkpoint
// (to_json / threshold_from_json) and printed in every report.
//   fixed               a given value (default 0.5)
//   youden              max over ROC points of J = sensitivity + specificity - 1 = tpr - fpr;
//                       ties go to the highest threshold (fewest positive calls)
//   target_sensitivity  the highest threshold whose sensitivity >= target, i.e. the best
//                       specificity among the thresholds that reach the target
// Thresholds are ROC thresholds (observed scores): a sample is positive when score >= t.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace covscreen::metrics {

enum class ThresholdMethod { kFixed, kYouden, kTargetSensitivity };

struct ThresholdChoice {
  double threshold = 0.5;
  ThresholdMethod method = ThresholdMethod::kFixed;
  double target = 0;        // the target sensitivity (kTargetSensitivity only)
  std::string description;  // human readable, e.g. "Youden's J = 0.62 (sens 0.85, spec 0.77) on 120 samples"
};

// "fixed", "youden", "target_sensitivity"
std::string to_string(ThresholdMethod m);
// Accepts the names above (and "target-sensitivity"); throws covscreen::UsageError otherwise.
ThresholdMethod parse_threshold_method(const std::string& s);

ThresholdChoice fixed_threshold(double t = 0.5);

// `labels` in {0, 1}. `target` is used by kTargetSensitivity only (in (0, 1]), and for kFixed
// it is the threshold. Throws covscreen::Error when the ROC curve is undefined (one class).
ThresholdChoice choose_threshold(const std::vector<double>& scores, const std::vector<int>& labels,
                                 ThresholdMethod method, double target = 0.5);

nlohmann::json to_json(const ThresholdChoice& t);
// Throws covscreen::Error on missing or malformed fields.
ThresholdChoice threshold_from_json(const nlohmann::json& j);

}  // namespace covscreen::metrics
