#pragma once
// Choosing the decision threshold on P(positive), normally on the validation split, so the
// test split is not used to tune it. The choice is data: it is stored in the checkpoint
// (to_json / threshold_from_json) and printed in every report.
//   fixed               a given value (default 0.5)
//   youden              max over ROC points of J = sensitivity + specificity - 1 = tpr - fpr;
//                       ties go to the highest threshold (fewest positive calls)
//   target_sensitivity  the highest threshold whose sensitivity >= target, i.e. the best
//                       specificity among the thresholds that reach the target
//   target_specificity  the lowest threshold whose specificity >= target, i.e. the best
//                       sensitivity among the thresholds that keep false positives within
//                       1 - target; needs negatives only (a site's normal studies are enough)
// Thresholds are ROC thresholds (observed scores): a sample is positive when score >= t. The one
// exception: when no observed score keeps the specificity, target_specificity takes the next
// number above the highest negative score.
//
// A rule is parsed once from its text (train's --threshold-rule, config "threshold_rule"):
//   ThresholdRule r = parse_threshold_rule("sensitivity>=0.95");   // {kTargetSensitivity, 0.95}
//   choose_threshold(scores, labels, r);   to_string(r) == "sensitivity>=0.95"
// Texts: "youden" | "fixed" (0.5) | "fixed=T" or a bare number T in [0, 1] | "sensitivity>=S"
// (also "target_sensitivity=S") | "specificity>=S" (also "target_specificity=S"), S in (0, 1].
// Anything else is a UsageError listing these forms.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "covscreen/core/registry.h"

namespace covscreen::metrics {

enum class ThresholdMethod { kFixed, kYouden, kTargetSensitivity, kTargetSpecificity };

struct ThresholdChoice {
  double threshold = 0.5;
  ThresholdMethod method = ThresholdMethod::kFixed;
  double target = 0;        // the target sensitivity or specificity (kTarget* only)
  std::string description;  // human readable, e.g. "Youden's J = 0.62 (sens 0.85, spec 0.77) on 120 samples"
};

// "fixed", "youden", "target_sensitivity", "target_specificity" (a ThresholdChoice's JSON "method")
std::string to_string(ThresholdMethod m);
// Accepts the names above; throws covscreen::UsageError listing them otherwise.
ThresholdMethod parse_threshold_method(const std::string& s);

struct ThresholdRule {
  ThresholdMethod method = ThresholdMethod::kYouden;
  double value = 0.5;  // kFixed: the threshold; kTarget*: the target sensitivity or specificity
};

// The registry of rule names (CLI help and errors): its entries' syntax and meaning.
struct ThresholdRuleInfo {
  ThresholdMethod method;
  std::string syntax;  // e.g. "sensitivity>=S"
  std::string summary;
};
const covscreen::Registry<ThresholdRuleInfo>& threshold_rules();

ThresholdRule parse_threshold_rule(const std::string& text);  // throws covscreen::UsageError
std::string to_string(const ThresholdRule& r);                // canonical text, parses back
void to_json(nlohmann::json& j, const ThresholdRule& r);      // as its text
void from_json(const nlohmann::json& j, ThresholdRule& r);

ThresholdChoice fixed_threshold(double t = 0.5);

// `labels` in {0, 1}. `target` is the target of kTarget* (in (0, 1]), and for kFixed the
// threshold. Throws covscreen::Error when the data cannot decide: youden and target_sensitivity
// need both classes, target_specificity at least one negative.
ThresholdChoice choose_threshold(const std::vector<double>& scores, const std::vector<int>& labels,
                                 ThresholdMethod method, double target = 0.5);
inline ThresholdChoice choose_threshold(const std::vector<double>& scores, const std::vector<int>& labels,
                                        const ThresholdRule& rule) {
  return choose_threshold(scores, labels, rule.method, rule.value);
}

nlohmann::json to_json(const ThresholdChoice& t);
// Throws covscreen::Error on missing or malformed fields.
ThresholdChoice threshold_from_json(const nlohmann::json& j);

}  // namespace covscreen::metrics
