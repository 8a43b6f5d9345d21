#pragma once
// What fine-tuning a pretrained backbone does to a model before and during training, shared by
// the trainer and the throughput benchmark (train/throughput.h):
//   freeze_backbone(*net, cfg.model, {"conv1", "bn1", "layer1"});  // requires_grad = false
//   net->train(); apply_bn_mode(*net, BnMode::kFrozen);           // BN layers in eval mode
#include <string>
#include <vector>

#include "covscreen/train/train_config.h"

namespace covscreen {

// Sets requires_grad = false on the backbone parameters named `prefix` or `prefix.*` (names within
// the backbone, as torchvision's: models/registry.h backbone_key), for each prefix. A prefix that
// names no parameter is a UsageError naming the backbone. Returns how many tensors were frozen.
int freeze_backbone(ScreenModelImpl& net, const ModelConfig& cfg, const std::vector<std::string>& prefixes);

// BnMode::kFrozen: every batch-norm layer of `net` in eval mode (call after net.train()).
void apply_bn_mode(torch::nn::Module& net, BnMode bn);

}  // namespace covscreen
