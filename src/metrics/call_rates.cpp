#include "covscreen/metrics/call_rates.h"

#include "covscreen/core/error.h"
#include "covscreen/core/labels.h"

namespace covscreen::metrics {

std::vector<ClassCallRate> call_rates_by_class(const std::vector<double>& p_covid, const std::vector<int>& data_labels,
                                               const std::vector<std::string>& data_classes, double threshold) {
  if (p_covid.size() != data_labels.size())
    throw Error("call_rates_by_class: " + std::to_string(p_covid.size()) + " scores for " +
                std::to_string(data_labels.size()) + " labels");
  std::vector<long> n(data_classes.size(), 0), k(data_classes.size(), 0);
  for (size_t i = 0; i < p_covid.size(); ++i) {
    const int l = data_labels[i];
    if (l < 0) continue;
    if (static_cast<size_t>(l) >= data_classes.size())
      throw Error("call_rates_by_class: label " + std::to_string(l) + " outside the data's classes");
    ++n[l];
    if (p_covid[i] >= threshold) ++k[l];
  }
  std::vector<ClassCallRate> out;
  for (size_t c = 0; c < data_classes.size(); ++c)
    if (n[c] > 0)
      out.push_back({data_classes[c], canonical_label(data_classes[c]) == kCovid, make_proportion(k[c], n[c])});
  return out;
}

nlohmann::json to_json(const std::vector<ClassCallRate>& rates) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& r : rates)
    j.push_back({{"data_class", r.data_class},
                 {"n", r.called_covid.n},
                 {"called_covid", r.called_covid.k},
                 {"rate", r.called_covid.value},
                 {"rate_ci", {r.called_covid.ci.lo, r.called_covid.ci.hi}},
                 {"meaning", r.covid ? "sensitivity" : "false-positive rate"}});
  return j;
}

}  // namespace covscreen::metrics
