#include "covscreen/models/typicality.h"

#include <torch/torch.h>

#include <algorithm>

#include "covscreen/core/error.h"

namespace covscreen {

torch::Tensor pool_features(const torch::Tensor& map) {
  if (map.dim() != 4)
    throw Error("typicality: features() gave a " + std::to_string(map.dim()) + "-D tensor, not a map");
  return map.to(torch::kFloat32).mean({2, 3});
}

namespace {
// Features as directions: each row scaled to unit length (float64). Measured on the shipped CT
// model, this separates COVID-CT val from X-rays and photographs with AUC 0.96 against 0.89
// for the raw features (README, input gate).
torch::Tensor unit_rows(const torch::Tensor& x) {
  const torch::Tensor d = x.to(torch::kCPU, torch::kFloat64);
  return d / d.norm(2, 1, true).clamp_min(1e-12);
}
}  // namespace

torch::Tensor Typicality::distances(const torch::Tensor& pooled) const {
  if (empty()) throw Error("typicality: this checkpoint has no typicality reference");
  if (pooled.dim() != 2 || pooled.size(1) != dim())
    throw Error("typicality: features of width " + std::to_string(pooled.dim() == 2 ? pooled.size(1) : -1) +
                ", the reference has " + std::to_string(dim()));
  const torch::Tensor c = unit_rows(pooled) - mean.to(torch::kFloat64);
  const torch::Tensor z = c.matmul(basis.to(torch::kFloat64).t());                   // [B, K]
  const torch::Tensor inside = (z.square() / variances.to(torch::kFloat64)).sum(1);  // Mahalanobis in the K directions
  const torch::Tensor residual = (c.square().sum(1) - z.square().sum(1)).clamp_min(0);
  return (inside + residual / residual_variance).to(torch::kFloat32);
}

double Typicality::score(double distance) const {
  if (reference.empty()) return 1.0;
  const auto at = std::lower_bound(reference.begin(), reference.end(), distance);
  return double(reference.end() - at) / double(reference.size());
}

std::vector<double> Typicality::scores(const torch::Tensor& pooled) const {
  const torch::Tensor d = distances(pooled).to(torch::kFloat64).contiguous();
  std::vector<double> out;
  out.reserve(size_t(d.numel()));
  for (int64_t i = 0; i < d.numel(); ++i) out.push_back(score(d.data_ptr<double>()[i]));
  return out;
}

Typicality fit_typicality(const torch::Tensor& pooled, const TypicalityOptions& opt) {
  if (pooled.dim() != 2) throw UsageError("typicality: expected features [N, D]");
  const int64_t n = pooled.size(0), d = pooled.size(1);
  const int64_t every = std::max(2, opt.reference_every);
  std::vector<int64_t> fit_idx, ref_idx;
  for (int64_t i = 0; i < n; ++i) (i % every == every - 1 ? ref_idx : fit_idx).push_back(i);
  if (fit_idx.size() < 10 || ref_idx.size() < 5 || d < 2)
    throw UsageError("typicality: " + std::to_string(n) + " images are too few (need at least " +
                     std::to_string(5 * every) + ")");
  const torch::Tensor x = pooled.to(torch::kCPU, torch::kFloat64);
  const torch::Tensor fit = unit_rows(x.index_select(0, torch::tensor(fit_idx)));
  const torch::Tensor ref = x.index_select(0, torch::tensor(ref_idx));  // distances() scales it

  Typicality t;
  const torch::Tensor mean = fit.mean(0);
  const torch::Tensor centred = fit - mean;
  const int64_t k = std::max<int64_t>(1, std::min<int64_t>({int64_t(opt.components), fit.size(0) - 1, d - 1}));
  const auto svd = torch::linalg_svd(centred, /*full_matrices=*/false);
  const double denom = double(fit.size(0) - 1);
  const torch::Tensor all_var = std::get<1>(svd).square() / denom;  // eigenvalues of the covariance
  const double total = centred.square().sum().item<double>() / denom;
  const double top = all_var.narrow(0, 0, k).sum().item<double>();
  // The variance left per dimension outside the K directions; never below a millionth of the
  // mean variance (features that never vary would otherwise divide by zero).
  const double floor = std::max(1e-12, 1e-6 * total / double(d));
  t.residual_variance = std::max(floor, (total - top) / double(d - k));
  t.mean = mean.to(torch::kFloat32).contiguous();
  t.basis = std::get<2>(svd).narrow(0, 0, k).to(torch::kFloat32).contiguous();
  t.variances = all_var.narrow(0, 0, k).clamp_min(floor).to(torch::kFloat32).contiguous();
  t.flag_below = opt.flag_below;
  const torch::Tensor rd = t.distances(ref).to(torch::kFloat64).contiguous();
  t.reference.assign(rd.data_ptr<double>(), rd.data_ptr<double>() + rd.numel());
  std::sort(t.reference.begin(), t.reference.end());
  t.info = {{"images_fitted", fit.size(0)},
            {"images_held_out", ref.size(0)},
            {"held_out", "every " + std::to_string(every) + "th image"}};
  return t;
}

nlohmann::json typicality_header(const Typicality& t) {
  return {{"dim", t.dim()},
          {"components", t.basis.defined() ? t.basis.size(0) : 0},
          {"residual_variance", t.residual_variance},
          {"flag_below", t.flag_below},
          {"reference", t.reference},
          {"info", t.info}};
}

}  // namespace covscreen
