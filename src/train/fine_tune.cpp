#include "covscreen/train/fine_tune.h"

#include <torch/nn/modules/batchnorm.h>

#include "covscreen/core/error.h"
#include "covscreen/core/strings.h"
#include "covscreen/models/registry.h"

namespace covscreen {

int freeze_backbone(ScreenModelImpl& net, const ModelConfig& cfg, const std::vector<std::string>& prefixes) {
  int total = 0;
  for (const auto& prefix : prefixes) {
    int frozen = 0;
    for (auto& p : net.named_parameters(true)) {
      const std::string k = backbone_key(net, cfg, p.key());
      if (!k.empty() && (k == prefix || starts_with(k, prefix + "."))) {
        p.value().set_requires_grad(false);
        ++frozen;
      }
    }
    if (frozen == 0)
      throw UsageError("freeze: no parameter of the " + backbone_name(cfg) + " backbone is named '" + prefix +
                       ".*' (names as in torchvision, e.g. " + backbone_of(cfg).example_key + ")");
    total += frozen;
  }
  return total;
}

void apply_bn_mode(torch::nn::Module& net, BnMode bn) {
  if (bn != BnMode::kFrozen) return;
  for (auto& m : net.modules(/*include_self=*/false))
    if (m->as<torch::nn::BatchNorm1dImpl>() || m->as<torch::nn::BatchNorm2dImpl>() ||
        m->as<torch::nn::BatchNorm3dImpl>())
      m->eval();
}

}  // namespace covscreen
