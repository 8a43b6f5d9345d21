#pragma once
// One image in, one class activation map out: the library call behind `covscreen explain` and
// `covscreen screen --cam-dir`. Drawing the overlay is io/overlay.h (OpenCV lives in io).
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "covscreen/explain/grad_cam.h"
#include "covscreen/models/model.h"

namespace covscreen {

struct ExplainResult {
  torch::Tensor map;          // float [H, W] in [0, 1] on the CPU, at the model input's size
  torch::Tensor raw_map;      // float [h, w] on the CPU: the CAM before upsampling/normalization
  std::vector<float> probs;   // [K] sigmoid of the logits (the models are trained with BCE on one-hot targets)
  std::vector<float> logits;  // [K]
  int class_idx = 0;          // the class the map explains
};

// x1: float [1, C, H, W] stage-2 output (any device; moved to the model's device). class_idx in
// [0, K). Runs in fp32 with autograd on whatever the caller's mode (see grad_cam.h).
ExplainResult explain_image(ScreenModelImpl& net, const torch::Tensor& x1, int class_idx,
                            CamMethod method = CamMethod::kGradCam);

// The same for a batch x [B, C, H, W] with one class per image.
std::vector<ExplainResult> explain_batch(ScreenModelImpl& net, const torch::Tensor& x,
                                         const std::vector<int64_t>& class_idx, CamMethod method = CamMethod::kGradCam);

}  // namespace covscreen
