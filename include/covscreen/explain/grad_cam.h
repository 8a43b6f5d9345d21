#pragma once
// Class activation maps from the features()/classify() split of a ScreenModel (LibTorch has no
// module hooks):  f = features(x) [B, C, h, w],  y = classify(f) [B, K] logits.
//
// Grad-CAM (Selvaraju et al. 2017):
//   g = d y_k / d f                                   [B, C, h, w]
//   alpha_c = mean_ij g_cij                           [B, C]
//   map = ReLU(sum_c alpha_c f_c)                     [B, h, w]
// Grad-CAM++ (Chattopadhay et al. 2018), the closed form under the exp-of-logit assumption
// (score S = exp(y_k), so all higher derivatives are powers of g):
//   a_cij = g^2 / (2 g^2 + sum_ab f_cab g^3)           (0 where the denominator is 0)
//   w_c = sum_ij a_cij ReLU(g_cij)
//   map = ReLU(sum_c w_c f_c)
//   The paper's positive factor exp(y_k) in w_c is dropped: it scales a map uniformly and
//   disappears in the [0, 1] normalization.
//
// Maps are computed in fp32 with autograd on, whatever the caller's mode: inside
// c10::InferenceMode, torch::NoGradGuard or bf16 autocast (switched off for the call), and on a
// model stored in bf16/fp16 (its weights are moved to fp32 for the call and back afterwards).
// The model runs in eval mode; every module's training flag is restored. Gradients are taken with
// torch::autograd::grad, so the parameters' .grad stay untouched. The model's weights must be ordinary tensors (not
// created inside InferenceMode), since the backward pass through classify() needs them.
#include <torch/types.h>

#include <cstdint>
#include <string>

#include "covscreen/core/registry.h"
#include "covscreen/models/model.h"

namespace covscreen {

enum class CamMethod { kGradCam, kGradCamPlusPlus };

const EnumNames<CamMethod>& cam_method_names();  // gradcam | gradcam++

struct CamResult {
  torch::Tensor maps;      // float [B, h, w], raw (after the ReLU, before upsampling/normalization)
  torch::Tensor weights;   // float [B, C]: alpha (Grad-CAM) or w (Grad-CAM++)
  torch::Tensor logits;    // float [B, K]
  torch::Tensor features;  // float [B, C, h, w] (detached)
};

// x: float [B, 3, H, W] on any device (moved to the model's device); target: int64 [B] class
// indices, one per image, each in [0, K). Results are on the model's device.
// Throws UsageError for bad shapes or class indices.
CamResult grad_cam(ScreenModelImpl& net, const torch::Tensor& x, const torch::Tensor& target,
                   CamMethod method = CamMethod::kGradCam);

// maps float [B, h, w] -> [B, height, width], bilinear (align_corners = false).
torch::Tensor upsample_maps(const torch::Tensor& maps, int64_t height, int64_t width);

// Per-map min-max scaling to [0, 1] of float [B, h, w] (or [h, w]). A constant map (max - min
// at most 1e-6 of its largest magnitude, all zeros included) becomes all zeros, never NaN;
// non-finite values count as 0.
torch::Tensor normalize_maps(const torch::Tensor& maps);

}  // namespace covscreen
