#pragma once
// DenseNet-121 / DenseNet-169 (Huang et al. 2017) written with LibTorch modules, laid out exactly
// like torchvision.models.densenet so that a Python `torch.save(model.state_dict(), f)` loads:
//   features.conv0 (7x7/2) .norm0 .relu0 .pool0 (3x3/2 max)
//   features.denseblockN.denselayerM.{norm1,relu1,conv1 (1x1, bn_size*k), norm2,relu2,conv2 (3x3, k)}
//   features.transitionN.{norm,relu,conv (1x1, C/2),pool (2x2/2 avg)}   N = 1..3
//   features.norm5, classifier (Linear, only when num_classes > 0)
// Buffers: every BatchNorm2d has running_mean, running_var, num_batches_tracked (as torchvision).
//
// Shapes: x float [B, 3, H, W] -> features(x) [B, C, H/32, W/32] (after norm5 and ReLU;
//   C = 1024 for 121, 1664 for 169) -> classify(f) = global average pool -> classifier -> [B, K].
// forward(x) = classify(features(x)) is numerically torchvision's DenseNet.forward.
// Parameter counts (growth 32, 64 initial features): DenseNet-121 features 6,953,856;
//   DenseNet-169 features 12,484,480; classifier C*K + K.
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include <memory>
#include <string>
#include <vector>

#include "covscreen/models/model.h"
#include "covscreen/models/stage_runner.h"

namespace covscreen {

struct DenseNetOptions {
  int growth_rate = 32;
  std::vector<int> block_config{6, 12, 24, 16};
  int num_init_features = 64;
  int bn_size = 4;
  int num_classes = 0;  // 0 = no classifier (used as a backbone)

  static DenseNetOptions densenet121(int num_classes = 0);
  static DenseNetOptions densenet169(int num_classes = 0);
  int num_features() const;  // channels of the final feature map
};

// One bottleneck layer: BN-ReLU-Conv1x1-BN-ReLU-Conv3x3, input = all previous maps concatenated.
class DenseLayerImpl : public torch::nn::Module {
 public:
  DenseLayerImpl(int in_channels, int growth_rate, int bn_size);
  torch::Tensor forward(const torch::Tensor& x);  // [B, Cin, h, w] -> [B, growth, h, w]

 private:
  torch::nn::BatchNorm2d norm1_{nullptr}, norm2_{nullptr};
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
};
TORCH_MODULE(DenseLayer);

// denselayer1..L; output = concat(input, every layer's output) along channels.
class DenseBlockImpl : public torch::nn::Module {
 public:
  DenseBlockImpl(int num_layers, int in_channels, int growth_rate, int bn_size);
  torch::Tensor forward(const torch::Tensor& x);  // [B, Cin, h, w] -> [B, Cin + L*k, h, w]

 private:
  std::vector<DenseLayer> layers_;
};
TORCH_MODULE(DenseBlock);

class DenseNetImpl : public ScreenModelImpl {
 public:
  explicit DenseNetImpl(const DenseNetOptions& opt);
  torch::Tensor features(const torch::Tensor& x) override;  // relu(features.*(x))
  torch::Tensor classify(const torch::Tensor& f) override;  // throws when num_classes == 0
  std::vector<std::pair<std::string, int64_t>> part_sizes() const override;
  std::string backbone_prefix() const override { return ""; }
  const DenseNetOptions& options() const { return opt_; }
  // While set, features() is the runner's (models/stage_runner.h); nullptr restores the modules.
  void set_stage_runner(std::shared_ptr<StageRunner> runner) { runner_ = std::move(runner); }
  StageRunner* stage_runner() const { return runner_.get(); }

 private:
  DenseNetOptions opt_;
  std::shared_ptr<StageRunner> runner_;
  torch::nn::Sequential features_{nullptr};
  torch::nn::Linear classifier_{nullptr};
};
TORCH_MODULE(DenseNet);

// Parameter count of a module (trainable or not; buffers excluded).
int64_t count_parameters(const torch::nn::Module& m);

}  // namespace covscreen
