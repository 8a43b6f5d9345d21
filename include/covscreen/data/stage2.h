#pragma once
// Stage 2 of preprocessing, as torch ops on a batch (CPU or CUDA):
//   uint8 [B, H, W] (stage-1 output) -> float [B, C, H, W] model input
//   0. training only, when the spec asks: synthetic annotations and JPEG re-compression
//      (data/source_marks.h), per image, from the draws' sixth column
//   1. training only: random rotation in [-rotate, rotate] degrees, translation in [-t, t] x
//      size and zoom in [1 - s, 1 + s], one draw per image, via affine_grid + grid_sample
//      (bilinear, zero fill); then, when the spec asks, a random gamma (Stage2Spec)
//   2. 3x3 Gaussian blur (sigma 0.8, OpenCV's default for ksize 3), reflect-101 borders
//   3. per-image standardization: (x - mean) / max(std, 1e-6) over the image's pixels
//   4. gray -> C channels (replicated)
// See core/preprocess_spec.h for how this completes the paper's five preprocessing steps.
#include <torch/types.h>

#include "covscreen/core/preprocess_spec.h"

namespace covscreen {

class Stage2 {
 public:
  explicit Stage2(const Stage2Spec& spec);
  // images: uint8 [B, H, W] on any device. augment=true applies step 1 using `gen`
  // (a CPU generator; null = the global one) so training is reproducible from a seed.
  torch::Tensor operator()(const torch::Tensor& images, bool augment, at::Generator* gen = nullptr) const;
  // Augmentation draws for n images: float [n, k] uniform in [-1, 1) (angle, tx, ty; when the
  // spec has zoom or gamma, those two; when it has annotations or JPEG, a seed for them: k = 3,
  // 5 or 6, so older recipes draw as they did before these existed), from `gen` (null = the
  // global generator).
  torch::Tensor draw(int64_t n, at::Generator* gen = nullptr) const;
  int64_t draw_columns() const;
  // As operator() with augment=true, with the draws given ([B, k], from draw()): training draws
  // them per epoch and indexes them by a sample's global position, so a sample is augmented the
  // same whichever batch or data-parallel rank it lands in.
  torch::Tensor augmented(const torch::Tensor& images, const torch::Tensor& draws) const;
  const Stage2Spec& spec() const { return spec_; }
  // The blur kernel [1, 1, k, k] (for tests).
  torch::Tensor blur_kernel() const { return kernel_; }

 private:
  torch::Tensor apply(const torch::Tensor& images, const torch::Tensor* draws) const;
  void mark_sources(const torch::Tensor& x, const torch::Tensor& seeds) const;  // step 0, in place
  Stage2Spec spec_;
  torch::Tensor kernel_;
};

}  // namespace covscreen
