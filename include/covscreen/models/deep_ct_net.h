#pragma once
// Deep-CT-Net (the paper's section 2.2 / Fig. 3):
//   x [B, 3, S, S] -> backbone features (after the final norm + ReLU) [B, C, S/32, S/32]
//   -> Feature Pyramid Attention (fpa.h) [B, C, S/32, S/32]          = features(x)
//   -> BatchNorm2d(C) -> flatten [B, C*(S/32)^2] -> Linear -> [B, K]  = classify(f)
// Parameter names: backbone.features.* (densenet; backbone.conv1/bn1/layerN.* for resnet50),
//   fpa.*, bn.*, fc.*  -- a torchvision DenseNet state_dict's features.* maps with "backbone.".
// Parameter counts (densenet121 backbone, fpa_channels 64, input 256 -> 8x8 maps):
//   backbone 6,953,856; fpa 5,856,640; head (bn 2,048 + fc 1024*64*K + K) 133,122 for K = 2,
//   198,659 for K = 3. `covscreen model info --arch deep-ct-net` prints them.
// The fc input size fixes the input resolution: classify() throws Error when the feature map is
// not the size the model was built for (ModelConfig::input_size).
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/linear.h>

#include <string>
#include <vector>

#include "covscreen/models/fpa.h"
#include "covscreen/models/model.h"

namespace covscreen {

// The backbone (channels, map size, weights) comes from the registry (models/registry.h).
class DeepCTNetImpl : public ScreenModelImpl {
 public:
  explicit DeepCTNetImpl(const ModelConfig& cfg);
  torch::Tensor features(const torch::Tensor& x) override;  // attend(backbone's features)
  torch::Tensor attend(const torch::Tensor& backbone_map);  // FPA output
  ScreenModelImpl& backbone() const { return *backbone_; }
  torch::Tensor classify(const torch::Tensor& f) override;  // BN -> flatten -> fc
  std::vector<std::pair<std::string, int64_t>> part_sizes() const override;
  std::string backbone_prefix() const override { return "backbone."; }
  const ModelConfig& config() const { return cfg_; }

 private:
  ModelConfig cfg_;
  int map_size_ = 0;
  ScreenModel backbone_;
  FeaturePyramidAttention fpa_{nullptr};
  torch::nn::BatchNorm2d bn_{nullptr};
  torch::nn::Linear fc_{nullptr};
};
TORCH_MODULE(DeepCTNet);

}  // namespace covscreen
