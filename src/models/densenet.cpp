#include "covscreen/models/densenet.h"

#include <torch/nn/functional.h>
#include <torch/nn/init.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/pooling.h>

#include "covscreen/core/error.h"
#include "covscreen/core/strings.h"
#include "covscreen/models/registry.h"

namespace covscreen {

namespace nn = torch::nn;
namespace F = torch::nn::functional;

DenseNetOptions DenseNetOptions::densenet121(int num_classes) {
  DenseNetOptions o;
  o.block_config = {6, 12, 24, 16};
  o.num_classes = num_classes;
  return o;
}

DenseNetOptions DenseNetOptions::densenet169(int num_classes) {
  DenseNetOptions o;
  o.block_config = {6, 12, 32, 32};
  o.num_classes = num_classes;
  return o;
}

int DenseNetOptions::num_features() const {
  int c = num_init_features;
  for (size_t i = 0; i < block_config.size(); ++i) {
    c += block_config[i] * growth_rate;
    if (i + 1 != block_config.size()) c /= 2;
  }
  return c;
}

int64_t count_parameters(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters(/*recurse=*/true)) n += p.numel();
  return n;
}

DenseLayerImpl::DenseLayerImpl(int in_channels, int growth_rate, int bn_size) {
  const int mid = bn_size * growth_rate;
  norm1_ = register_module("norm1", nn::BatchNorm2d(in_channels));
  register_module("relu1", nn::ReLU(nn::ReLUOptions(true)));
  conv1_ = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(in_channels, mid, 1).bias(false)));
  norm2_ = register_module("norm2", nn::BatchNorm2d(mid));
  register_module("relu2", nn::ReLU(nn::ReLUOptions(true)));
  conv2_ = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(mid, growth_rate, 3).padding(1).bias(false)));
}

torch::Tensor DenseLayerImpl::forward(const torch::Tensor& x) {
  // In-place ReLU on a BatchNorm output is safe for autograd (BN's backward does not need it).
  auto h = conv1_->forward(norm1_->forward(x).relu_());
  return conv2_->forward(norm2_->forward(h).relu_());
}

DenseBlockImpl::DenseBlockImpl(int num_layers, int in_channels, int growth_rate, int bn_size) {
  for (int i = 0; i < num_layers; ++i) {
    layers_.push_back(register_module("denselayer" + std::to_string(i + 1),
                                      DenseLayer(in_channels + i * growth_rate, growth_rate, bn_size)));
  }
}

torch::Tensor DenseBlockImpl::forward(const torch::Tensor& x) {
  std::vector<torch::Tensor> maps{x};
  maps.reserve(layers_.size() + 1);
  for (auto& layer : layers_) maps.push_back(layer->forward(torch::cat(maps, 1)));
  return torch::cat(maps, 1);
}

// transitionN: norm -> relu -> 1x1 conv (halves the channels) -> 2x2/2 average pool.
// (A module, not a Sequential: LibTorch cannot nest a Sequential inside a Sequential.)
class TransitionImpl : public torch::nn::Module {
 public:
  TransitionImpl(int in_channels, int out_channels) {
    norm_ = register_module("norm", nn::BatchNorm2d(in_channels));
    register_module("relu", nn::ReLU(nn::ReLUOptions(true)));
    conv_ = register_module("conv", nn::Conv2d(nn::Conv2dOptions(in_channels, out_channels, 1).bias(false)));
    register_module("pool", nn::AvgPool2d(nn::AvgPool2dOptions(2).stride(2)));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return F::avg_pool2d(conv_->forward(norm_->forward(x).relu_()), F::AvgPool2dFuncOptions(2).stride(2));
  }

 private:
  nn::BatchNorm2d norm_{nullptr};
  nn::Conv2d conv_{nullptr};
};
TORCH_MODULE(Transition);

DenseNetImpl::DenseNetImpl(const DenseNetOptions& opt) : opt_(opt) {
  if (opt.block_config.empty() || opt.growth_rate <= 0 || opt.num_init_features <= 0 || opt.bn_size <= 0 ||
      opt.num_classes < 0)
    throw UsageError("densenet: invalid options");
  features_ = nn::Sequential();
  features_->push_back("conv0",
                       nn::Conv2d(nn::Conv2dOptions(3, opt.num_init_features, 7).stride(2).padding(3).bias(false)));
  features_->push_back("norm0", nn::BatchNorm2d(opt.num_init_features));
  features_->push_back("relu0", nn::ReLU(nn::ReLUOptions(true)));
  features_->push_back("pool0", nn::MaxPool2d(nn::MaxPool2dOptions(3).stride(2).padding(1)));
  int c = opt.num_init_features;
  const int nblocks = static_cast<int>(opt.block_config.size());
  for (int i = 0; i < nblocks; ++i) {
    features_->push_back("denseblock" + std::to_string(i + 1),
                         DenseBlock(opt.block_config[i], c, opt.growth_rate, opt.bn_size));
    c += opt.block_config[i] * opt.growth_rate;
    if (i + 1 != nblocks) {
      features_->push_back("transition" + std::to_string(i + 1), Transition(c, c / 2));
      c /= 2;
    }
  }
  features_->push_back("norm5", nn::BatchNorm2d(c));
  register_module("features", features_);
  if (opt.num_classes > 0) classifier_ = register_module("classifier", nn::Linear(c, opt.num_classes));

  // torchvision's initialization: kaiming-normal convs, BN (1, 0), zero linear bias.
  torch::NoGradGuard no_grad;
  for (auto& m : modules(/*include_self=*/false)) {
    if (auto* conv = m->as<nn::Conv2d>()) {
      nn::init::kaiming_normal_(conv->weight);
    } else if (auto* bn = m->as<nn::BatchNorm2d>()) {
      nn::init::ones_(bn->weight);
      nn::init::zeros_(bn->bias);
    } else if (auto* fc = m->as<nn::Linear>()) {
      nn::init::zeros_(fc->bias);
    }
  }
}

torch::Tensor DenseNetImpl::features(const torch::Tensor& x) {
  if (runner_) return runner_->run(x, 0, 4);
  // Not in place: Grad-CAM keeps this tensor and its gradient.
  return torch::relu(features_->forward(x));
}

torch::Tensor DenseNetImpl::classify(const torch::Tensor& f) {
  if (!classifier_) throw Error("densenet: classify() on a backbone built without a classifier");
  auto pooled = F::adaptive_avg_pool2d(f, F::AdaptiveAvgPool2dFuncOptions(1)).flatten(1);
  return classifier_->forward(pooled);
}

std::vector<std::pair<std::string, int64_t>> DenseNetImpl::part_sizes() const {
  std::vector<std::pair<std::string, int64_t>> parts{{"backbone", count_parameters(*features_)}};
  if (classifier_) parts.emplace_back("head", count_parameters(*classifier_));
  return parts;
}

namespace {
int conv_out(int n, int k, int s, int p) { return (n + 2 * p - k) / s + 1; }
}  // namespace

Backbone densenet_backbone(const std::string& name) {
  const DenseNetOptions opt = name == "densenet169" ? DenseNetOptions::densenet169() : DenseNetOptions::densenet121();
  Backbone b;
  b.summary = name == "densenet169" ? "DenseNet-169 (Huang et al. 2017), 1664 channels"
                                    : "DenseNet-121 (Huang et al. 2017), 1024 channels";
  b.channels = opt.num_features();
  // conv0 /2, pool0 /2, then a 2x2 average pool in transition1..3
  b.map_size = [](int input) { return conv_out(conv_out(input, 7, 2, 3), 3, 2, 1) / 8; };
  const bool d169 = name == "densenet169";
  b.make = [d169](int num_classes) -> ScreenModel {
    return std::make_shared<DenseNetImpl>(d169 ? DenseNetOptions::densenet169(num_classes)
                                               : DenseNetOptions::densenet121(num_classes));
  };
  b.is_torchvision_key = [](const std::string& k) { return starts_with(k, "features."); };
  b.example_key = "features.conv0.weight";
  return b;
}

}  // namespace covscreen
