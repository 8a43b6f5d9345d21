#pragma once
// Deep-CXR-Net (the paper's section 2.3 / Fig. 4 / Appendix A): three parts, DenseNet-121 as in
// the paper or ResNet-50 (`cxr.part_arch`, ImageNet-initialized ones: docs/training.md).
//   part 1  a multi-label classifier of chest X-ray findings (CheXpert-style, data/chexpert.h);
//           `cxr.part1_select` picks which of its outputs form the finding vector (6 in the
//           paper). Frozen.
//   part 2  a normal / pneumonia classifier. Frozen.
//   part 3  a Deep-CT-Net trunk: backbone -> pyramid attention -> BN -> flatten -> fc to
//           `cxr.trunk_features` values (deep_ct_net.h with that many outputs). Trained.
//   head    concat(part 3's vector, sigmoid(part 1)[select], sigmoid(part 2))
//           -> Linear(head_hidden) -> ReLU -> Linear(1) = z, the COVID logit. Trained.
// Frozen = no gradients (requires_grad off) and eval-mode batch norm whatever train() is called
// with, so parts 1 and 2 stay bit-identical while part 3 and the head train.
// Shared trunk (`cxr.shared_stages` N > 0, ResNet parts): parts fine-tuned from the same ImageNet
// weights with the stem and layers 1..N frozen compute the same function up to layer N, so it is
// computed once, by part 3's backbone, and frozen there too; parts 1 and 2 hold only layers
// N+1..4 and their classifiers (ResNet tails, resnet.h). Exact, and it saves the size and time
// of two trunks (models/cxr_parts.h checks that the parts' trunks are the same).
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
// Parameter names: part1.*, part2.* (torchvision DenseNet / ResNet names inside), part3.*
// (deep-ct-net names; the shared trunk is part3.backbone's conv1, bn1, layer1..N), fc1.*, fc2.*.
#include <torch/nn/modules/linear.h>

#include <string>
#include <vector>

#include "covscreen/models/deep_ct_net.h"
#include "covscreen/models/model.h"

namespace covscreen {

class ResNetImpl;
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

  // Copies a trained classifier of cxr.part_arch into part 1 or 2 (same output count; a tail takes
  // the tensors it holds) and freezes it.
  void set_part(int which, torch::nn::Module& trained);
  torch::nn::Module& part(int which);
  // The shared trunk's modules (part 3's stem and layers 1..shared_stages); empty without one.
  std::vector<std::shared_ptr<torch::nn::Module>> trunk_modules() const;
  DeepCTNetImpl& part3() { return *part3_; }
  const ModelConfig& config() const { return cfg_; }

 private:
  ModelConfig cfg_;
  int64_t map_channels_ = 0;
  std::vector<int64_t> select_;
  ResNetImpl& resnet_backbone() const;          // part 3's backbone, a ResNet when stages are shared
  torch::Tensor trunk(const torch::Tensor& x);  // shared stages' output, or x itself
  // The frozen parts' outputs [B, F] on the trunk's output: sigmoid(part 1)[:, select], sigmoid(part 2).
  torch::Tensor parts_on(const torch::Tensor& trunk_out);
  ScreenModel part1_, part2_;
  DeepCTNet part3_{nullptr};
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr};
};
TORCH_MODULE(DeepCXRNet);

}  // namespace covscreen
