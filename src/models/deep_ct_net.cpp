#include "covscreen/models/deep_ct_net.h"

#include "covscreen/core/error.h"
#include "covscreen/models/densenet.h"
#include "covscreen/models/registry.h"

namespace covscreen {

namespace nn = torch::nn;

Architecture deep_ct_net_architecture() {
  Architecture a;
  a.summary = "Deep-CT-Net: backbone + pyramid attention + BN + fc (the paper's CT model)";
  a.uses_fpa = true;
  a.make = [](const ModelConfig& cfg) { return std::make_shared<DeepCTNetImpl>(cfg); };
  return a;
}

DeepCTNetImpl::DeepCTNetImpl(const ModelConfig& cfg) : cfg_(cfg) {
  cfg.validate();
  const Backbone& bb = backbones().get(cfg.backbone);
  const int c = bb.channels;
  map_size_ = bb.map_size(cfg.input_size);
  backbone_ = register_module("backbone", bb.make(0));
  fpa_ = register_module("fpa", FeaturePyramidAttention(c, cfg.fpa_channels));
  bn_ = register_module("bn", nn::BatchNorm2d(c));
  fc_ = register_module("fc", nn::Linear(int64_t(c) * map_size_ * map_size_, cfg.num_classes));
}

torch::Tensor DeepCTNetImpl::features(const torch::Tensor& x) { return attend(backbone_->features(x)); }

torch::Tensor DeepCTNetImpl::attend(const torch::Tensor& backbone_map) {
  // The backbone's features() already ends with the ReLU (densenet: after norm5; resnet: the
  // last block's ReLU), which is the "ReLU" step of Fig. 3.
  return fpa_->forward(backbone_map);
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
