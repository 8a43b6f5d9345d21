#include "covscreen/explain/rank_correlation.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "covscreen/core/error.h"

namespace covscreen {

torch::Tensor average_ranks(const torch::Tensor& values) {
  const torch::Tensor v = values.detach().to(torch::kCPU, torch::kDouble).reshape({-1}).contiguous();
  const int64_t n = v.numel();
  const double* x = v.data_ptr<double>();
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [x](int64_t i, int64_t j) { return x[i] < x[j]; });
  torch::Tensor ranks = torch::empty({n}, torch::kDouble);
  double* r = ranks.data_ptr<double>();
  for (int64_t i = 0; i < n;) {
    int64_t j = i + 1;
    while (j < n && x[order[j]] == x[order[i]]) ++j;
    const double avg = 0.5 * static_cast<double>(i + 1 + j);  // mean of ranks i+1 .. j
    for (int64_t k = i; k < j; ++k) r[order[k]] = avg;
    i = j;
  }
  return ranks;
}

double spearman_correlation(const torch::Tensor& a, const torch::Tensor& b) {
  if (!a.defined() || !b.defined() || a.numel() != b.numel())
    throw UsageError("spearman_correlation: maps must have the same number of elements");
  if (a.numel() < 2) throw UsageError("spearman_correlation: need at least 2 elements");
  const torch::Tensor ra = average_ranks(torch::nan_to_num(a.to(torch::kDouble), 0.0, 0.0, 0.0));
  const torch::Tensor rb = average_ranks(torch::nan_to_num(b.to(torch::kDouble), 0.0, 0.0, 0.0));
  const torch::Tensor da = ra - ra.mean();
  const torch::Tensor db = rb - rb.mean();
  const double saa = (da * da).sum().item<double>();
  const double sbb = (db * db).sum().item<double>();
  if (saa <= 0.0 || sbb <= 0.0) return 0.0;
  const double r = (da * db).sum().item<double>() / std::sqrt(saa * sbb);
  return std::max(-1.0, std::min(1.0, r));
}

}  // namespace covscreen
