#pragma once
// Spearman rank correlation between two maps (any shapes with the same number of elements),
// used for the model-randomization sanity check of Adebayo et al. 2018: maps of a trained
// model and of the same architecture with re-initialized weights should rank pixels differently.
#include <torch/types.h>

namespace covscreen {

// Pearson correlation of the ranks (ties get their average rank, as scipy.stats.spearmanr),
// computed in double on the CPU. When either map is constant the correlation is undefined;
// this returns 0 then (no shared ranking), never NaN. Throws UsageError when the element
// counts differ or are below 2.
double spearman_correlation(const torch::Tensor& a, const torch::Tensor& b);

// Average ranks (1-based, ties averaged) of a flattened tensor, as double [N].
torch::Tensor average_ranks(const torch::Tensor& values);

}  // namespace covscreen
