#pragma once
// Typicality: how far an image lies from the images a model was trained on, in the model's own
// features (the global average of features(), models/model.h, scaled to unit length: their
// direction). A checkpoint carries the reference
// (Checkpoint::typicality): the mean of the training images' pooled features, their top K
// principal directions with the variance along each, the mean variance left outside them, and
// the distances of held-out training images. An image's distance is the Mahalanobis distance in
// the K directions plus the residual's squared norm over the residual variance (probabilistic PCA:
// a covariance of D x D numbers cannot be estimated from a few hundred images, its top K
// directions can). Its typicality is the share of held-out reference images at least as far:
// 1 = like the middle of the training data, 0 = farther than every one of them.
//
//   covscreen::Typicality t = covscreen::fit_typicality(pooled /* float [N, D] */, {});
//   torch::Tensor d = t.distances(batch_pooled);          // [B]
//   double s = t.score(d[0].item<double>());              // in [0, 1]
//   bool flag = s < t.flag_below;                         // atypical: screened, and flagged
#include <torch/types.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace covscreen {

struct TypicalityOptions {
  int components = 32;       // K principal directions (at most the fit images - 1, and D)
  int reference_every = 5;   // every n-th image is held out for the reference distances, the rest fits
  double flag_below = 0.01;  // typicality under which an image is flagged atypical
};

struct Typicality {
  torch::Tensor mean;             // float [D]
  torch::Tensor basis;            // float [K, D], orthonormal rows
  torch::Tensor variances;        // float [K], along each row of basis
  double residual_variance = 0;   // per dimension, outside the K directions
  std::vector<double> reference;  // distances of the held-out images, sorted
  double flag_below = 0.01;
  nlohmann::json info;  // images fitted and held out, K, D, what data (the caller's)

  bool empty() const { return !mean.defined(); }
  int64_t dim() const { return mean.defined() ? mean.size(0) : 0; }
  // pooled float [B, D] -> distances float [B] (CPU).
  torch::Tensor distances(const torch::Tensor& pooled) const;
  // The share of reference distances >= d.
  double score(double distance) const;
  // score(distance) of each row of pooled float [B, D].
  std::vector<double> scores(const torch::Tensor& pooled) const;
  bool atypical(double score_value) const { return score_value < flag_below; }
};

// Throws UsageError when there are too few images (at least 10 to fit, 5 held out) or features.
Typicality fit_typicality(const torch::Tensor& pooled, const TypicalityOptions& opt);

// The global average of a features() map: [B, C, h, w] -> float [B, C].
torch::Tensor pool_features(const torch::Tensor& map);

// {"dim", "components", "residual_variance", "flag_below", "reference", "info"}: the numbers the
// checkpoint header keeps (the tensors go to blobs: models/checkpoint.cpp).
nlohmann::json typicality_header(const Typicality& t);

}  // namespace covscreen
