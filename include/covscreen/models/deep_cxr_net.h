#pragma once
// Deep-CXR-Net (the paper's section 2.3 / Fig. 4 / Appendix A): three DenseNet-121 parts.
//   part 1  a DenseNet-121 multi-label classifier of chest X-ray findings (CheXpert-style,
//           data/chexpert.h); `cxr.part1_select` picks which of its outputs form the finding vector
//           (6 in the paper). Frozen.
//   part 2  a DenseNet-121 normal / pneumonia classifier (Kermany). Frozen.
//   part 3  a Deep-CT-Net trunk: DenseNet-121 -> pyramid attention -> BN -> flatten -> fc to
//           `cxr.trunk_features` values (deep_ct_net.h with that many outputs). Trained.
//   head    concat(part 3's vector, sigmoid(part 1)[select], sigmoid(part 2))
//           -> Linear(head_hidden) -> ReLU -> Linear(1) = z, the COVID logit. Trained.
// Frozen = no gradients (requires_grad off) and eval-mode batch norm whatever train() is called
// with, so parts 1 and 2 stay bit-identical while part 3 and the head train.
//
// Interface with the rest of covscreen (two classes, one of them COVID):
//   features(x) = part 3's attention map [B, C, h, w] with the frozen parts' outputs appended as
//                 F constant channels ([B, C + F, h, w]); cam_channels() = C, so Grad-CAM reads
//                 the map only. classify() needs both, and LibTorch has no hooks.
//   classify(f) = logits [B, 2] = (z, -z) or (-z, z), z at `cxr.positive_index` (the COVID class).
//                 With the usual per-class sigmoid, P(covid) = sigmoid(z) and the other class gets
//                 1 - P; BCE on the one-hot target averaged over the two columns equals the
//                 single-logit BCE of z exactly (both columns give the same term).
// A part trained at another input side (cxr.partN_input_size) gets the input resized to it
// (bilinear); parts must otherwise share stage 1 (equalization) and stage 2 (blur, channels).
// Parameter names: part1.*, part2.* (torchvision DenseNet names inside), part3.* (deep-ct-net
// names), fc1.*, fc2.*.
#include <torch/nn/modules/linear.h>

#include <string>
#include <vector>

#include "covscreen/models/deep_ct_net.h"
#include "covscreen/models/model.h"

namespace covscreen {

void validate_cxr(const ModelConfig& cfg);  // throws UsageError

class DeepCXRNetImpl : public ScreenModelImpl {
 public:
  explicit DeepCXRNetImpl(const ModelConfig& cfg);
  torch::Tensor features(const torch::Tensor& x) override;
  torch::Tensor classify(const torch::Tensor& f) override;
  std::vector<std::pair<std::string, int64_t>> part_sizes() const override;
  std::string backbone_prefix() const override { return "part3.backbone."; }
  int64_t cam_channels() const override { return map_channels_; }
  void train(bool on = true) override;  // parts 1 and 2 stay in eval mode

  // The frozen parts' outputs [B, F]: sigmoid(part 1)[:, select] then sigmoid(part 2).
  torch::Tensor part_outputs(const torch::Tensor& x);
  // Copies a trained DenseNet-121 classifier into part 1 or 2 (same output count) and freezes it.
  void set_part(int which, torch::nn::Module& trained);
  torch::nn::Module& part(int which);
  const ModelConfig& config() const { return cfg_; }

 private:
  ModelConfig cfg_;
  int64_t map_channels_ = 0;
  std::vector<int64_t> select_;
  ScreenModel part1_, part2_;
  DeepCTNet part3_{nullptr};
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr};
};
TORCH_MODULE(DeepCXRNet);

}  // namespace covscreen
