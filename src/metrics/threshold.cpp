#include "covscreen/metrics/threshold.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>

#include "covscreen/core/error.h"
#include "covscreen/core/strings.h"
#include "covscreen/metrics/roc.h"

namespace covscreen::metrics {
namespace {

std::string fmt3(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", x);
  return buf;
}
std::string fmt_threshold(double x) { return format_number(x); }

// The whole text is one finite number ("0.9x", "abc", "" are not).
bool parse_number(const std::string& s, double* out) {
  if (s.empty() || std::isspace(static_cast<unsigned char>(s.front()))) return false;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

const EnumNames<ThresholdMethod>& method_names() {
  static const EnumNames<ThresholdMethod> names{"threshold method",
                                                {{ThresholdMethod::kFixed, "fixed"},
                                                 {ThresholdMethod::kYouden, "youden"},
                                                 {ThresholdMethod::kTargetSensitivity, "target_sensitivity"},
                                                 {ThresholdMethod::kTargetSpecificity, "target_specificity"}}};
  return names;
}

}  // namespace

std::string to_string(ThresholdMethod m) { return method_names().name(m); }

ThresholdMethod parse_threshold_method(const std::string& s) { return method_names().parse(s); }

const Registry<ThresholdRuleInfo>& threshold_rules() {
  static const Registry<ThresholdRuleInfo> r = [] {
    Registry<ThresholdRuleInfo> r("threshold rule");
    r.add("youden", {ThresholdMethod::kYouden, "youden", "maximise sensitivity + specificity - 1 on validation"});
    r.add("fixed", {ThresholdMethod::kFixed, "fixed[=T]", "the threshold T in [0, 1] (default 0.5; a bare T too)"});
    r.add("sensitivity", {ThresholdMethod::kTargetSensitivity, "sensitivity>=S",
                          "the highest threshold whose validation sensitivity reaches S in (0, 1]"});
    r.add("specificity", {ThresholdMethod::kTargetSpecificity, "specificity>=S",
                          "the lowest threshold whose specificity reaches S in (0, 1] (negatives alone suffice)"});
    return r;
  }();
  return r;
}

ThresholdRule parse_threshold_rule(const std::string& text) {
  std::vector<std::string> forms;
  for (const auto& [name, info] : threshold_rules().entries()) forms.push_back(info.syntax);
  const auto bad = [&](const std::string& why) {
    return UsageError("threshold_rule '" + text + "': " + why + " (valid: " + covscreen::join(forms, ", ") + ")");
  };
  // name, then "=" or ">=" and a number; a bare number is a fixed threshold
  std::string name = text, arg;
  bool has_arg = false;
  if (const size_t at = text.find(">="); at != std::string::npos) {
    name = text.substr(0, at), arg = text.substr(at + 2), has_arg = true;
  } else if (const size_t eq = text.find('='); eq != std::string::npos) {
    name = text.substr(0, eq), arg = text.substr(eq + 1), has_arg = true;
  }
  double number = 0;
  if (!has_arg && parse_number(text, &number)) name = "fixed", arg = text, has_arg = true;
  if (name == "target_sensitivity") name = "sensitivity";
  if (name == "target_specificity") name = "specificity";
  const ThresholdRuleInfo* info = threshold_rules().find(name);
  if (!info) throw bad("unknown rule '" + name + "'");
  ThresholdRule r;
  r.method = info->method;
  if (r.method == ThresholdMethod::kYouden) {
    if (has_arg) throw bad("youden takes no value");
    return r;
  }
  if (!has_arg && r.method == ThresholdMethod::kFixed) return r;  // 0.5
  if (!has_arg) throw bad(name + " needs a target, e.g. " + name + ">=0.95");
  if (!parse_number(arg, &r.value)) throw bad("'" + arg + "' is not a number");
  if (r.method == ThresholdMethod::kFixed && !(r.value >= 0 && r.value <= 1)) throw bad("T must be in [0, 1]");
  if (r.method != ThresholdMethod::kFixed && !(r.value > 0 && r.value <= 1)) throw bad("S must be in (0, 1]");
  return r;
}

std::string to_string(const ThresholdRule& r) {
  switch (r.method) {
    case ThresholdMethod::kYouden:
      return "youden";
    case ThresholdMethod::kFixed:
      return "fixed=" + fmt_threshold(r.value);
    case ThresholdMethod::kTargetSensitivity:
      return "sensitivity>=" + fmt_threshold(r.value);
    case ThresholdMethod::kTargetSpecificity:
      return "specificity>=" + fmt_threshold(r.value);
  }
  return "youden";
}

void to_json(nlohmann::json& j, const ThresholdRule& r) { j = to_string(r); }

void from_json(const nlohmann::json& j, ThresholdRule& r) {
  if (!j.is_string()) throw UsageError("threshold_rule must be a string such as \"youden\"");
  r = parse_threshold_rule(j.get<std::string>());
}

ThresholdChoice fixed_threshold(double t) {
  ThresholdChoice c;
  c.threshold = t;
  c.method = ThresholdMethod::kFixed;
  c.description = "fixed at " + fmt_threshold(t);
  return c;
}

namespace {

// The lowest threshold t with specificity(t) >= target: at most k = floor((1 - target) * n)
// negatives may score >= t, so t must lie above the (k+1)-th highest negative score v; t is the
// lowest observed score above v, or the next double above v when none is.
ThresholdChoice target_specificity(const std::vector<double>& scores, const std::vector<int>& labels, double target) {
  if (scores.size() != labels.size()) throw Error("threshold: scores and labels differ in length");
  std::vector<double> negatives;
  size_t positives = 0;
  for (size_t i = 0; i < scores.size(); ++i) {
    if (labels[i] == 0) negatives.push_back(scores[i]);
    positives += labels[i] == 1;
  }
  if (negatives.empty()) throw Error("threshold: a specificity target needs negative samples, and there are none");
  std::sort(negatives.begin(), negatives.end(), std::greater<double>());
  const size_t n = negatives.size();
  const auto k = static_cast<size_t>(std::floor((1 - target) * static_cast<double>(n) + 1e-9));  // < n
  const double v = negatives[k];
  double t = std::nextafter(v, std::numeric_limits<double>::infinity());
  bool observed = false;
  for (double s : scores)
    if (s > v && (!observed || s < t)) t = s, observed = true;
  size_t fp = 0, tp = 0;
  for (size_t i = 0; i < scores.size(); ++i)
    if (scores[i] >= t) (labels[i] == 1 ? tp : fp) += 1;
  ThresholdChoice c;
  c.method = ThresholdMethod::kTargetSpecificity;
  c.threshold = t;
  c.target = target;
  std::string at = "specificity " + fmt3(1 - static_cast<double>(fp) / static_cast<double>(n)) + " (" +
                   std::to_string(fp) + " of " + std::to_string(n) + " negatives called positive)";
  if (positives > 0) at += ", sensitivity " + fmt3(static_cast<double>(tp) / static_cast<double>(positives));
  c.description = "lowest threshold with specificity >= " + fmt3(target) + ": " + fmt_threshold(t) + " (" + at +
                  " on " + std::to_string(scores.size()) + " samples)";
  return c;
}

}  // namespace

ThresholdChoice choose_threshold(const std::vector<double>& scores, const std::vector<int>& labels,
                                 ThresholdMethod method, double target) {
  if (method == ThresholdMethod::kFixed) return fixed_threshold(target);
  if (method != ThresholdMethod::kYouden && !(target > 0 && target <= 1))
    throw UsageError("target " +
                     std::string(method == ThresholdMethod::kTargetSensitivity ? "sensitivity" : "specificity") +
                     " must be in (0, 1], got " + fmt3(target));
  if (method == ThresholdMethod::kTargetSpecificity) return target_specificity(scores, labels, target);
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
  if (t.method == ThresholdMethod::kTargetSensitivity || t.method == ThresholdMethod::kTargetSpecificity)
    j["target"] = t.target;
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
