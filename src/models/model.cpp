#include "covscreen/models/model.h"

#include <set>

#include "covscreen/core/error.h"
#include "covscreen/models/deep_ct_net.h"
#include "covscreen/models/deep_cxr_net.h"
#include "covscreen/models/densenet.h"
#include "covscreen/models/resnet.h"

namespace covscreen {

namespace {
const std::set<std::string> kArchs{"deep-ct-net", "deep-cxr-net", "densenet121", "densenet169", "resnet50"};
const std::set<std::string> kBackbones{"densenet121", "densenet169", "resnet50"};
const std::set<std::string> kKeys{"arch", "backbone", "num_classes", "fpa_channels", "input_size", "cxr"};
const std::set<std::string> kCxrKeys{"part1_outputs",    "part1_select",   "part2_outputs", "part1_input_size",
                                     "part2_input_size", "trunk_features", "head_hidden",   "positive_index"};
}  // namespace

void ModelConfig::validate() const {
  if (!kArchs.count(arch))
    throw UsageError("model: unknown arch '" + arch +
                     "' (deep-ct-net, deep-cxr-net, densenet121, densenet169, resnet50)");
  if (!kBackbones.count(backbone))
    throw UsageError("model: unknown backbone '" + backbone + "' (densenet121, densenet169, resnet50)");
  if (num_classes < 1 || num_classes > 100000) throw UsageError("model: num_classes must be in [1, 100000]");
  if (fpa_channels < 1 || fpa_channels > 4096) throw UsageError("model: fpa_channels must be in [1, 4096]");
  if (input_size < 32 || input_size > 4096) throw UsageError("model: input_size must be in [32, 4096]");
  if (arch == "deep-cxr-net") validate_cxr(*this);
  if ((arch == "deep-ct-net" || arch == "deep-cxr-net") && backbone_output_size(backbone, input_size) < 2)
    throw UsageError(
        "model: deep-ct-net needs input_size >= 64 (the backbone map must be at least 2x2 "
        "for the BatchNorm after the pyramid attention)");
}

void to_json(nlohmann::json& j, const ModelConfig& c) {
  j = {{"arch", c.arch},
       {"backbone", c.backbone},
       {"num_classes", c.num_classes},
       {"fpa_channels", c.fpa_channels},
       {"input_size", c.input_size}};
  if (c.arch != "deep-cxr-net") return;
  const auto& x = c.cxr;
  j["cxr"] = {{"part1_outputs", x.part1_outputs},       {"part1_select", x.part1_select},
              {"part2_outputs", x.part2_outputs},       {"part1_input_size", x.part1_input_size},
              {"part2_input_size", x.part2_input_size}, {"trunk_features", x.trunk_features},
              {"head_hidden", x.head_hidden},           {"positive_index", x.positive_index}};
}

void from_json(const nlohmann::json& j, ModelConfig& c) {
  if (!j.is_object()) throw UsageError("model config: expected a JSON object");
  for (const auto& [key, value] : j.items())
    if (!kKeys.count(key)) throw UsageError("model config: unknown key '" + key + "'");
  try {
    ModelConfig d;
    c.arch = j.value("arch", d.arch);
    c.backbone = j.value("backbone", d.backbone);
    c.num_classes = j.value("num_classes", d.num_classes);
    c.fpa_channels = j.value("fpa_channels", d.fpa_channels);
    c.input_size = j.value("input_size", d.input_size);
    if (auto x = j.find("cxr"); x != j.end()) {
      if (!x->is_object()) throw UsageError("model config: 'cxr' must be a JSON object");
      for (const auto& [key, value] : x->items())
        if (!kCxrKeys.count(key)) throw UsageError("model config: unknown key 'cxr." + key + "'");
      const ModelConfig::Cxr dx;
      auto& o = c.cxr;
      o.part1_outputs = x->value("part1_outputs", dx.part1_outputs);
      o.part1_select = x->value("part1_select", dx.part1_select);
      o.part2_outputs = x->value("part2_outputs", dx.part2_outputs);
      o.part1_input_size = x->value("part1_input_size", dx.part1_input_size);
      o.part2_input_size = x->value("part2_input_size", dx.part2_input_size);
      o.trunk_features = x->value("trunk_features", dx.trunk_features);
      o.head_hidden = x->value("head_hidden", dx.head_hidden);
      o.positive_index = x->value("positive_index", dx.positive_index);
    }
  } catch (const nlohmann::json::exception& e) {
    throw UsageError(std::string("model config: ") + e.what());
  }
}

ScreenModel make_model(const ModelConfig& cfg) {
  cfg.validate();
  if (cfg.arch == "deep-ct-net") return std::make_shared<DeepCTNetImpl>(cfg);
  if (cfg.arch == "deep-cxr-net") return std::make_shared<DeepCXRNetImpl>(cfg);
  if (cfg.arch == "densenet121") return std::make_shared<DenseNetImpl>(DenseNetOptions::densenet121(cfg.num_classes));
  if (cfg.arch == "densenet169") return std::make_shared<DenseNetImpl>(DenseNetOptions::densenet169(cfg.num_classes));
  return std::make_shared<ResNetImpl>(ResNetOptions::resnet50(cfg.num_classes));
}

}  // namespace covscreen
