#include "covscreen/models/resnet.h"

#include <torch/nn/functional.h>
#include <torch/nn/init.h>

#include "covscreen/core/error.h"
#include "covscreen/models/densenet.h"  // count_parameters
#include "covscreen/models/registry.h"

namespace covscreen {

namespace nn = torch::nn;
namespace F = torch::nn::functional;

ResNetOptions ResNetOptions::resnet50(int num_classes, bool stride_on_1x1) {
  ResNetOptions o;
  o.num_classes = num_classes;
  o.stride_on_1x1 = stride_on_1x1;
  return o;
}

BottleneckImpl::BottleneckImpl(int in_channels, int planes, int stride, bool stride_on_1x1) {
  const int out = planes * kExpansion;
  const int s1 = stride_on_1x1 ? stride : 1, s3 = stride_on_1x1 ? 1 : stride;
  conv1_ = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(in_channels, planes, 1).stride(s1).bias(false)));
  bn1_ = register_module("bn1", nn::BatchNorm2d(planes));
  conv2_ = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(planes, planes, 3).stride(s3).padding(1).bias(false)));
  bn2_ = register_module("bn2", nn::BatchNorm2d(planes));
  conv3_ = register_module("conv3", nn::Conv2d(nn::Conv2dOptions(planes, out, 1).bias(false)));
  bn3_ = register_module("bn3", nn::BatchNorm2d(out));
  if (stride != 1 || in_channels != out) {
    downsample_ = nn::Sequential(nn::Conv2d(nn::Conv2dOptions(in_channels, out, 1).stride(stride).bias(false)),
                                 nn::BatchNorm2d(out));
    register_module("downsample", downsample_);
  }
}

torch::Tensor BottleneckImpl::forward(const torch::Tensor& x) {
  auto h = bn1_->forward(conv1_->forward(x)).relu_();
  h = bn2_->forward(conv2_->forward(h)).relu_();
  h = bn3_->forward(conv3_->forward(h));
  auto identity = downsample_ ? downsample_->forward(x) : x;
  return torch::relu(h + identity);
}

ResNetImpl::ResNetImpl(const ResNetOptions& opt) : opt_(opt) {
  if (opt.layers.size() != 4 || opt.num_classes < 0 || opt.first_stage < 1 || opt.first_stage > 4)
    throw UsageError("resnet: invalid options");
  if (opt.first_stage == 1) {
    conv1_ = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(3, 64, 7).stride(2).padding(3).bias(false)));
    bn1_ = register_module("bn1", nn::BatchNorm2d(64));
  }
  int in = ResNetOptions::stage_channels(opt.first_stage - 1);
  const int planes[4] = {64, 128, 256, 512};
  for (int s = opt.first_stage - 1; s < 4; ++s) {
    nn::Sequential stage;
    for (int b = 0; b < opt.layers[s]; ++b) {
      const int stride = (b == 0 && s > 0) ? 2 : 1;
      stage->push_back(Bottleneck(in, planes[s], stride, opt.stride_on_1x1));
      in = planes[s] * BottleneckImpl::kExpansion;
    }
    stages_.push_back(register_module("layer" + std::to_string(s + 1), stage));
  }
  if (opt.num_classes > 0) fc_ = register_module("fc", nn::Linear(in, opt.num_classes));

  // torchvision's initialization: kaiming-normal (fan_out, relu) convs, BN (1, 0).
  torch::NoGradGuard no_grad;
  for (auto& m : modules(/*include_self=*/false)) {
    if (auto* conv = m->as<nn::Conv2d>()) {
      nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
    } else if (auto* bn = m->as<nn::BatchNorm2d>()) {
      nn::init::ones_(bn->weight);
      nn::init::zeros_(bn->bias);
    }
  }
}

torch::Tensor ResNetImpl::features(const torch::Tensor& x) {
  return run(x, opt_.first_stage == 1 ? 0 : opt_.first_stage, 4);
}

torch::Tensor ResNetImpl::run(const torch::Tensor& x, int first, int last) {
  const int lowest = opt_.first_stage == 1 ? 0 : opt_.first_stage;
  if (first < lowest || last > 4 || first > last)
    throw Error("resnet: stages " + std::to_string(first) + ".." + std::to_string(last) + " of a network holding " +
                std::to_string(lowest) + "..4");
  if (runner_) return runner_->run(x, first, last);
  torch::Tensor h = x;
  if (first == 0) {
    h = bn1_->forward(conv1_->forward(h)).relu_();
    h = F::max_pool2d(h, F::MaxPool2dFuncOptions(3).stride(2).padding(1));
  }
  for (int s = std::max(first, 1); s <= last; ++s) h = stages_[static_cast<size_t>(s - opt_.first_stage)]->forward(h);
  return h;
}

std::vector<std::shared_ptr<nn::Module>> ResNetImpl::stage_modules(int s) const {
  if (s == 0 && conv1_) return {conv1_.ptr(), bn1_.ptr()};
  if (s >= opt_.first_stage && s <= 4) return {stages_[static_cast<size_t>(s - opt_.first_stage)].ptr()};
  throw Error("resnet: no stage " + std::to_string(s) + " in this network");
}

torch::Tensor ResNetImpl::classify(const torch::Tensor& f) {
  if (!fc_) throw Error("resnet: classify() on a backbone built without an fc layer");
  return fc_->forward(F::adaptive_avg_pool2d(f, F::AdaptiveAvgPool2dFuncOptions(1)).flatten(1));
}

std::vector<std::pair<std::string, int64_t>> ResNetImpl::part_sizes() const {
  const int64_t total = count_parameters(*this);
  const int64_t head = fc_ ? count_parameters(*fc_) : 0;
  std::vector<std::pair<std::string, int64_t>> parts{{"backbone", total - head}};
  if (fc_) parts.emplace_back("head", head);
  return parts;
}

Backbone resnet50_backbone(bool stride_on_1x1) {
  Backbone b;
  b.summary = stride_on_1x1
                  ? "ResNet-50 v1 (stride on each stage's first 1x1 conv: Caffe/Keras ImageNet weights), 2048 channels"
                  : "ResNet-50 (torchvision's v1.5: stride on the 3x3 conv), 2048 channels";
  b.channels = ResNetOptions::resnet50().num_features();
  b.map_size = [](int input) {
    auto conv_out = [](int n, int k, int s, int p) { return (n + 2 * p - k) / s + 1; };
    int n = conv_out(conv_out(input, 7, 2, 3), 3, 2, 1);   // conv1 /2, maxpool /2
    for (int i = 0; i < 3; ++i) n = conv_out(n, 3, 2, 1);  // the strided conv of layer2..4 (1x1: same size)
    return n;
  };
  b.make = [stride_on_1x1](int num_classes) -> ScreenModel {
    return std::make_shared<ResNetImpl>(ResNetOptions::resnet50(num_classes, stride_on_1x1));
  };
  b.is_torchvision_key = [](const std::string& k) { return k.compare(0, 3, "fc.") != 0; };
  b.example_key = "layer1.0.conv1.weight";
  return b;
}

}  // namespace covscreen
