#pragma once
// ResNet-50 (He et al. 2016) written with LibTorch modules, laid out exactly like
// torchvision.models.resnet50's state_dict. Two placements of each stage's stride (stages 2-4):
//   resnet50   torchvision's "v1.5": on the 3x3 conv (conv2);
//   resnet50v1 the original paper's, Caffe's and Keras': on the first 1x1 conv (conv1) and the
//              shortcut. Same parameters, different function: weights trained with one placement
//              are only right with it (the ImageNet weights of models/keras_resnet.h are v1).
// The layout:
//   conv1 (7x7/2), bn1, (relu, maxpool 3x3/2), layer1..layer4 = Sequential of Bottleneck
//   "0", "1", ... each {conv1 1x1, bn1, conv2 3x3 (stride), bn2, conv3 1x1 (x4), bn3,
//   downsample.0 (1x1 conv, stride) + downsample.1 (BN) on the first block of a layer}, fc.
// Shapes: x float [B, 3, H, W] -> features(x) = layer4 output [B, 2048, H/32, W/32]
//   -> classify(f) = global average pool -> fc -> [B, K].
// forward(x) = classify(features(x)) is numerically torchvision's ResNet.forward.
// Parameter counts: backbone (everything but fc) 23,508,032; fc 2048*K + K.
// A tail (first_stage > 1) has no stem and no stages before first_stage: its input is the output
// of stage first_stage - 1 (Deep-CXR-Net's parts on a shared trunk, deep_cxr_net.h); layer4 alone
// holds 14,964,736 parameters.
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

struct ResNetOptions {
  std::vector<int> layers{3, 4, 6, 3};  // Bottleneck blocks per stage (ResNet-50)
  int num_classes = 0;                  // 0 = no fc (used as a backbone)
  bool stride_on_1x1 = false;           // v1 (true) or torchvision's v1.5 (false); see above
  int first_stage = 1;                  // 1 = the whole network; 2..4 = a tail (see above)
  static ResNetOptions resnet50(int num_classes = 0, bool stride_on_1x1 = false);
  int num_features() const { return 512 * 4; }
  static int stage_channels(int stage) { return stage == 0 ? 64 : 256 << (stage - 1); }  // output of stem / layerN
};

class BottleneckImpl : public torch::nn::Module {
 public:
  static constexpr int kExpansion = 4;
  BottleneckImpl(int in_channels, int planes, int stride, bool stride_on_1x1 = false);
  torch::Tensor forward(const torch::Tensor& x);  // [B, Cin, h, w] -> [B, 4*planes, h/s, w/s]

 private:
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr}, bn3_{nullptr};
  torch::nn::Sequential downsample_{nullptr};
};
TORCH_MODULE(Bottleneck);

class ResNetImpl : public ScreenModelImpl {
 public:
  explicit ResNetImpl(const ResNetOptions& opt);
  torch::Tensor features(const torch::Tensor& x) override;  // layer4 output (from the stem, or a tail's first stage)
  // Stages first..last in order, 0 being the stem (conv1, bn1, ReLU, max pool) and 1..4 layer1..4:
  // run(x, 0, 3) is the output of layer3. Throws Error for a stage this network (a tail) lacks.
  torch::Tensor run(const torch::Tensor& x, int first, int last);
  // The modules of stage s: {conv1, bn1} for the stem, {layerN} for N in 1..4.
  std::vector<std::shared_ptr<torch::nn::Module>> stage_modules(int s) const;
  torch::Tensor classify(const torch::Tensor& f) override;  // throws when num_classes == 0
  std::vector<std::pair<std::string, int64_t>> part_sizes() const override;
  std::string backbone_prefix() const override { return ""; }
  const ResNetOptions& options() const { return opt_; }
  // While set, run() (and so features()) is the runner's; nullptr restores the fp32 modules.
  void set_stage_runner(std::shared_ptr<StageRunner> runner) { runner_ = std::move(runner); }
  StageRunner* stage_runner() const { return runner_.get(); }

 private:
  ResNetOptions opt_;
  std::shared_ptr<StageRunner> runner_;
  torch::nn::Conv2d conv1_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr};
  std::vector<torch::nn::Sequential> stages_;
  torch::nn::Linear fc_{nullptr};
};
TORCH_MODULE(ResNet);

}  // namespace covscreen
