#include "covscreen/metrics/threshold.h"

#include <cstdio>

#include "covscreen/core/error.h"
#include "covscreen/metrics/roc.h"

namespace covscreen::metrics {
namespace {

std::string fmt3(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", x);
  return buf;
}
std::string fmt_threshold(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", x);
  return buf;
}

}  // namespace

std::string to_string(ThresholdMethod m) {
  switch (m) {
    case ThresholdMethod::kFixed:
      return "fixed";
    case ThresholdMethod::kYouden:
      return "youden";
    case ThresholdMethod::kTargetSensitivity:
      return "target_sensitivity";
  }
  return "fixed";
}

ThresholdMethod parse_threshold_method(const std::string& s) {
  if (s == "fixed") return ThresholdMethod::kFixed;
  if (s == "youden") return ThresholdMethod::kYouden;
  if (s == "target_sensitivity" || s == "target-sensitivity") return ThresholdMethod::kTargetSensitivity;
  throw UsageError("unknown threshold method '" + s + "' (expected fixed, youden or target_sensitivity)");
}

ThresholdChoice fixed_threshold(double t) {
  ThresholdChoice c;
  c.threshold = t;
  c.method = ThresholdMethod::kFixed;
  c.description = "fixed at " + fmt_threshold(t);
  return c;
}

ThresholdChoice choose_threshold(const std::vector<double>& scores, const std::vector<int>& labels,
                                 ThresholdMethod method, double target) {
  if (method == ThresholdMethod::kFixed) return fixed_threshold(target);
  if (method == ThresholdMethod::kTargetSensitivity && !(target > 0 && target <= 1))
    throw UsageError("target sensitivity must be in (0, 1], got " + fmt3(target));
  const RocCurve roc = roc_curve(scores, labels, /*drop_intermediate=*/false);
  // Point 0 is the (0, 0) point at +inf: never a usable threshold.
  size_t best = 0;
  if (method == ThresholdMethod::kYouden) {
    double best_j = -2;
    for (size_t i = 1; i < roc.tpr.size(); ++i) {
      const double j = roc.tpr[i] - roc.fpr[i];
      if (j > best_j + 1e-12) {  // strict: ties keep the higher threshold
        best_j = j;
        best = i;
      }
    }
  } else {
    for (size_t i = 1; i < roc.tpr.size(); ++i)
      if (roc.tpr[i] >= target - 1e-12) {
        best = i;
        break;
      }
  }
  ThresholdChoice c;
  c.method = method;
  c.threshold = roc.thresholds[best];
  c.target = method == ThresholdMethod::kTargetSensitivity ? target : 0;
  const std::string at = "sensitivity " + fmt3(roc.tpr[best]) + ", specificity " + fmt3(1 - roc.fpr[best]) + " on " +
                         std::to_string(scores.size()) + " samples";
  if (method == ThresholdMethod::kYouden)
    c.description = "Youden's J = " + fmt3(roc.tpr[best] - roc.fpr[best]) + " at threshold " +
                    fmt_threshold(c.threshold) + " (" + at + ")";
  else
    c.description =
        "highest threshold with sensitivity >= " + fmt3(target) + ": " + fmt_threshold(c.threshold) + " (" + at + ")";
  return c;
}

nlohmann::json to_json(const ThresholdChoice& t) {
  nlohmann::json j{{"threshold", t.threshold}, {"method", to_string(t.method)}, {"description", t.description}};
  if (t.method == ThresholdMethod::kTargetSensitivity) j["target"] = t.target;
  return j;
}

ThresholdChoice threshold_from_json(const nlohmann::json& j) {
  try {
    ThresholdChoice t;
    t.threshold = j.at("threshold").get<double>();
    t.method = parse_threshold_method(j.value("method", std::string("fixed")));
    t.target = j.value("target", 0.0);
    t.description = j.value("description", std::string());
    if (t.description.empty() && t.method == ThresholdMethod::kFixed)
      t.description = fixed_threshold(t.threshold).description;
    return t;
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("threshold: malformed JSON: ") + e.what());
  }
}

}  // namespace covscreen::metrics
