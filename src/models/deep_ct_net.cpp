#include "covscreen/models/deep_ct_net.h"

#include "covscreen/core/error.h"
#include "covscreen/models/densenet.h"
#include "covscreen/models/resnet.h"

namespace covscreen {

namespace nn = torch::nn;

namespace {
int conv_out(int n, int k, int s, int p) { return (n + 2 * p - k) / s + 1; }
}  // namespace

int backbone_output_size(const std::string& backbone, int input_size) {
  int n = conv_out(input_size, 7, 2, 3);  // conv0 / conv1
  n = conv_out(n, 3, 2, 1);               // pool0 / maxpool
  for (int i = 0; i < 3; ++i) {
    if (backbone == "resnet50")
      n = conv_out(n, 3, 2, 1);  // strided 3x3 in layer2..4
    else
      n = n / 2;  // 2x2 average pool in transition1..3
  }
  return n;
}

int backbone_channels(const std::string& backbone) {
  if (backbone == "densenet121") return DenseNetOptions::densenet121().num_features();
  if (backbone == "densenet169") return DenseNetOptions::densenet169().num_features();
  if (backbone == "resnet50") return ResNetOptions::resnet50().num_features();
  throw UsageError("unknown backbone '" + backbone + "' (densenet121, densenet169, resnet50)");
}

ScreenModel make_backbone(const std::string& backbone) {
  if (backbone == "densenet121") return std::make_shared<DenseNetImpl>(DenseNetOptions::densenet121());
  if (backbone == "densenet169") return std::make_shared<DenseNetImpl>(DenseNetOptions::densenet169());
  if (backbone == "resnet50") return std::make_shared<ResNetImpl>(ResNetOptions::resnet50());
  throw UsageError("unknown backbone '" + backbone + "' (densenet121, densenet169, resnet50)");
}

DeepCTNetImpl::DeepCTNetImpl(const ModelConfig& cfg) : cfg_(cfg) {
  cfg.validate();
  const int c = backbone_channels(cfg.backbone);
  map_size_ = backbone_output_size(cfg.backbone, cfg.input_size);
  backbone_ = register_module("backbone", make_backbone(cfg.backbone));
  fpa_ = register_module("fpa", FeaturePyramidAttention(c, cfg.fpa_channels));
  bn_ = register_module("bn", nn::BatchNorm2d(c));
  fc_ = register_module("fc", nn::Linear(int64_t(c) * map_size_ * map_size_, cfg.num_classes));
}

torch::Tensor DeepCTNetImpl::features(const torch::Tensor& x) {
  // The backbone's features() already ends with the ReLU (densenet: after norm5; resnet: the
  // last block's ReLU), which is the "ReLU" step of Fig. 3.
  return fpa_->forward(backbone_->features(x));
}

torch::Tensor DeepCTNetImpl::classify(const torch::Tensor& f) {
  if (f.dim() != 4 || f.size(2) != map_size_ || f.size(3) != map_size_)
    throw Error("deep-ct-net: feature map " + std::to_string(f.dim() == 4 ? f.size(2) : -1) + "x" +
                std::to_string(f.dim() == 4 ? f.size(3) : -1) + " does not match the " + std::to_string(map_size_) +
                "x" + std::to_string(map_size_) + " of the " + std::to_string(cfg_.input_size) + "x" +
                std::to_string(cfg_.input_size) + " input this model was built for");
  return fc_->forward(bn_->forward(f).flatten(1));
}

std::vector<std::pair<std::string, int64_t>> DeepCTNetImpl::part_sizes() const {
  return {{"backbone", count_parameters(*backbone_)},
          {"fpa", count_parameters(*fpa_)},
          {"head", count_parameters(*bn_) + count_parameters(*fc_)}};
}

}  // namespace covscreen
