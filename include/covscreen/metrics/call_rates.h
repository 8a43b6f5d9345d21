#pragma once
// How often each of the data's own classes is called COVID at the decision threshold. For a
// non-COVID class it is that class's false-positive rate (the paper's Table VI point: models
// that call other pneumonia COVID); for the COVID class it is the sensitivity. The data's classes
// can be finer than the model's (covid / normal / pneumonia data for a covid / non-covid model).
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "covscreen/metrics/proportion.h"

namespace covscreen::metrics {

struct ClassCallRate {
  std::string data_class;
  bool covid = false;       // the class is COVID (the rate is a sensitivity, not a false-positive rate)
  Proportion called_covid;  // k = samples with P(covid) >= threshold, n = samples of the class
};

// p_covid[i] for sample i with label data_labels[i] (index into data_classes; -1 = left out).
// Classes without samples are left out. Throws covscreen::Error on mismatched sizes or labels.
std::vector<ClassCallRate> call_rates_by_class(const std::vector<double>& p_covid, const std::vector<int>& data_labels,
                                               const std::vector<std::string>& data_classes, double threshold);

nlohmann::json to_json(const std::vector<ClassCallRate>& rates);

}  // namespace covscreen::metrics
