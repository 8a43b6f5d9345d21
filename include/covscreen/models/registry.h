#pragma once
// The model registries (torchvision's models/_api.py in C++): every architecture and every
// backbone by name, with what the rest of covscreen needs to know about it.
//
//   for (const auto& name : architectures().names()) ...            // CLI choices and help
//   const Architecture& a = architectures().get(cfg.arch);          // UsageError lists valid names
//   ScreenModel net = a.make(cfg);                                  // = make_model(cfg)
//   BuiltModel b = a.build_for_training(cfg, ctx);                  // frozen parts etc.
//
// Adding an architecture: write it in its own files (an XxxImpl : ScreenModelImpl plus a function
// `Architecture xxx_architecture()` that describes it), then add one line to the list in
// src/models/registry.cpp. Adding a backbone: the same with `Backbone xxx_backbone()`.
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "covscreen/core/preprocess_spec.h"
#include "covscreen/core/registry.h"
#include "covscreen/models/model.h"

namespace covscreen {

// A feature extractor with torchvision parameter names; its features() ends with the last
// block's activation (densenet: norm5 + ReLU).
struct Backbone {
  std::string summary;
  int channels = 0;                             // of the last feature map
  std::function<int(int input_size)> map_size;  // side of the last map for a square input
  // With a classifier of num_classes outputs (the plain baseline of that name), or without one
  // for num_classes 0 (a trunk: classify() throws).
  std::function<ScreenModel(int num_classes)> make;
  // Whether a key of a torchvision state_dict (after normalize_torchvision_key) is a backbone
  // tensor, and an example of one for error messages.
  std::function<bool(const std::string& key)> is_torchvision_key;
  std::string example_key;
};

// Files and choices a model with frozen parts is built from (deep-cxr-net's --part1/--part2).
struct FrozenPartFiles {
  std::string part1, part2;
  std::vector<std::string> part1_select;  // names or indices; empty = all outputs
};

// What training knows when it builds a fresh model.
struct ModelBuildContext {
  std::vector<std::string> classes;  // the training data's classes
  bool multilabel = false;           // a multi-label (findings) pack
  PreprocessSpec spec;
  FrozenPartFiles parts;
  // Loads pretrained weights into a freshly made model's backbone (train --init), before frozen
  // parts are attached; empty = none.
  std::function<void(ScreenModelImpl&)> init;
};

struct BuiltModel {
  ScreenModel net;
  nlohmann::json record;  // what the checkpoint records about the build (frozen parts' files)
};

struct Architecture {
  std::string summary;
  // The backbone this architecture always has ("densenet121" for the plain baseline of that
  // name), or "" when it takes ModelConfig::backbone (deep-ct-net, deep-cxr-net).
  std::string fixed_backbone;
  bool uses_fpa = false;  // fpa_channels applies
  std::function<ScreenModel(const ModelConfig&)> make;
  std::function<void(const ModelConfig&)> validate;  // optional checks beyond the common ones
  // Optional: builds the model for training; may complete `cfg` (deep-cxr-net reads its frozen
  // parts and sets cfg.cxr). Default: make(cfg).
  std::function<BuiltModel(ModelConfig& cfg, const ModelBuildContext& ctx)> build_for_training;
};

const Registry<Architecture>& architectures();
const Registry<Backbone>& backbones();

// The backbone of `cfg` (the architecture's fixed one, else cfg.backbone).
const Backbone& backbone_of(const ModelConfig& cfg);
std::string backbone_name(const ModelConfig& cfg);

// The name of parameter/buffer `name` of `model` (built from `cfg`) within its backbone, in
// torchvision's names ("layer1.0.conv1.weight"), or "" when it is not a backbone tensor (heads,
// pyramid attention, frozen parts). What backbone import, --freeze and the backbone's learning rate use.
std::string backbone_key(const ScreenModelImpl& model, const ModelConfig& cfg, const std::string& name);

// Builds the model that training starts from, through the architecture's build_for_training.
BuiltModel build_for_training(ModelConfig& cfg, const ModelBuildContext& ctx);

// Built-in entries, each defined next to its model (densenet.cpp, resnet.cpp, deep_ct_net.cpp,
// deep_cxr_net.cpp) and listed once in registry.cpp.
Backbone densenet_backbone(const std::string& name);           // densenet121 | densenet169
Backbone resnet50_backbone(bool stride_on_1x1);                // resnet50 (false) | resnet50v1 (true)
Architecture plain_architecture(const std::string& backbone);  // a registered backbone + its classifier
Architecture deep_ct_net_architecture();
Architecture deep_cxr_net_architecture();

}  // namespace covscreen
