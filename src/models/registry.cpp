#include "covscreen/models/registry.h"

#include "covscreen/core/error.h"

namespace covscreen {

// The one list of backbones. A new backbone: its entry function next to its model, one line here.
const Registry<Backbone>& backbones() {
  static const Registry<Backbone> r = [] {
    Registry<Backbone> r("backbone");
    r.add("densenet121", densenet_backbone("densenet121"));
    r.add("densenet169", densenet_backbone("densenet169"));
    r.add("resnet50", resnet50_backbone(false));
    r.add("resnet50v1", resnet50_backbone(true));
    return r;
  }();
  return r;
}

// The one list of architectures. A new architecture: its files, one line here.
const Registry<Architecture>& architectures() {
  static const Registry<Architecture> r = [] {
    Registry<Architecture> r("architecture");
    r.add("deep-ct-net", deep_ct_net_architecture());
    r.add("deep-cxr-net", deep_cxr_net_architecture());
    r.add("densenet121", plain_architecture("densenet121"));
    r.add("densenet169", plain_architecture("densenet169"));
    r.add("resnet50", plain_architecture("resnet50"));
    r.add("resnet50v1", plain_architecture("resnet50v1"));
    return r;
  }();
  return r;
}

Architecture plain_architecture(const std::string& backbone) {
  Architecture a;
  a.summary = "plain " + backbone + " classifier (baseline)";
  a.fixed_backbone = backbone;
  a.make = [backbone](const ModelConfig& cfg) { return backbones().get(backbone).make(cfg.num_classes); };
  return a;
}

std::string backbone_name(const ModelConfig& cfg) {
  const std::string& fixed = architectures().get(cfg.arch).fixed_backbone;
  return fixed.empty() ? cfg.backbone : fixed;
}

const Backbone& backbone_of(const ModelConfig& cfg) { return backbones().get(backbone_name(cfg)); }

std::string backbone_key(const ScreenModelImpl& model, const ModelConfig& cfg, const std::string& name) {
  const std::string prefix = model.backbone_prefix();
  if (name.compare(0, prefix.size(), prefix) != 0) return "";
  std::string key = name.substr(prefix.size());
  return backbone_of(cfg).is_torchvision_key(key) ? key : "";
}

BuiltModel build_for_training(ModelConfig& cfg, const ModelBuildContext& ctx) {
  if (cfg.members != 1)
    throw UsageError("model: members " + std::to_string(cfg.members) +
                     " is a seed ensemble, which is not trained as one: train each member with its own --seed, "
                     "then combine the checkpoints with `covscreen model ensemble`");
  const Architecture& a = architectures().get(cfg.arch);
  if (a.build_for_training) return a.build_for_training(cfg, ctx);
  ScreenModel net = make_model(cfg);
  if (ctx.init) ctx.init(*net);
  return {net, nlohmann::json::object()};
}

}  // namespace covscreen
