#pragma once
// A fixed binary example with tied scores: metrics_reference_test.cpp checks sklearn's ROC points,
// AUC and threshold metrics on it; metrics_evaluate_test.cpp reuses it for threshold choices.
#include <vector>

inline const std::vector<int> kY = {0, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 0};
inline const std::vector<double> kS = {0.1, 0.4, 0.35, 0.8, 0.4, 0.35, 0.2, 0.9, 0.4, 0.6, 0.35, 0.05};
