#pragma once
// The screening model interface and factory.
//   features(x): x float [B, 3, H, W] (stage-2 output) -> feature map [B, C, h, w]
//                (Deep-CT-Net: the pyramid-attention output; baselines: the last backbone block,
//                 after the final norm/ReLU)
//   classify(f): feature map -> logits [B, K]
//   forward(x) = classify(features(x)). Grad-CAM uses the split (LibTorch has no hooks).
#include <torch/nn/module.h>
#include <torch/types.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace covscreen {

inline constexpr int kMaxEnsembleMembers = 16;

struct ModelConfig {
  std::string arch = "deep-ct-net";      // a name in architectures() (models/registry.h)
  std::string backbone = "densenet121";  // a name in backbones(); used by architectures without a fixed one
  int num_classes = 2;
  int fpa_channels = 64;  // width of the pyramid branches (the paper's FPA at C/16; docs/design.md)
  int input_size = 256;   // for the flatten -> fc size of deep-ct-net
  // A seed ensemble (models/ensemble.h): this many models of the config above, each with its own
  // weights, whose logits are averaged. Built from trained checkpoints by `model ensemble`, never
  // trained as one; written to JSON only when > 1.
  int members = 1;  // in [1, kMaxEnsembleMembers]
  // deep-cxr-net only (models/deep_cxr_net.h); written to JSON only for models built from parts.
  struct Cxr {
    // The parts' architecture: densenet121 (the paper's), resnet50 or resnet50v1. With a ResNet,
    // shared_stages N > 0 makes parts 1-3 share the stem and layers 1..N (run once, frozen; each
    // part keeps layers N+1..4 and its classifier): needs backbone == part_arch and all parts at
    // input_size.
    std::string part_arch = "densenet121";
    int shared_stages = 0;
    int part1_outputs = 6;          // classifier size of part 1 (CheXpert findings; 18 for torchxrayvision)
    std::vector<int> part1_select;  // part-1 outputs forming the finding vector (empty = all)
    int part2_outputs = 2;          // classifier size of part 2 (normal / pneumonia)
    int part1_input_size = 0;       // input side each part was trained at (0 = input_size); the
    int part2_input_size = 0;       //   input is resized to it
    int trunk_features = 16;        // part 3: Deep-CT-Net trunk's fc output width
    int head_hidden = 32;           // the first of the two fully connected layers
    int positive_index = 0;         // which of the two classes is COVID
  } cxr;
  void validate() const;  // throws UsageError
};
// from_json merges: keys absent from `j` keep their value in `c`. Unknown keys, an unknown
// architecture or backbone are a UsageError that lists the valid ones.
void to_json(nlohmann::json& j, const ModelConfig& c);
void from_json(const nlohmann::json& j, ModelConfig& c);
void to_json(nlohmann::json& j, const ModelConfig::Cxr& x);
void from_json(const nlohmann::json& j, ModelConfig::Cxr& x);

class ScreenModelImpl : public torch::nn::Module {
 public:
  virtual torch::Tensor features(const torch::Tensor& x) = 0;
  virtual torch::Tensor classify(const torch::Tensor& f) = 0;
  torch::Tensor forward(const torch::Tensor& x) { return classify(features(x)); }
  // Named parts and their parameter counts, e.g. {"backbone", 6953856}, {"fpa", ...}, {"head", ...}.
  virtual std::vector<std::pair<std::string, int64_t>> part_sizes() const = 0;
  // Prefix under which torchvision backbone weights live in named_parameters() ("" for the
  // plain baselines, "backbone." for deep-ct-net).
  virtual std::string backbone_prefix() const = 0;
  // How many leading channels of features() form the spatial map Grad-CAM reads (-1 = all);
  // deep-cxr-net appends its frozen parts' outputs as constant channels after the map.
  virtual int64_t cam_channels() const { return -1; }
};
using ScreenModel = std::shared_ptr<ScreenModelImpl>;

// The architecture registry's make (models/registry.h), after cfg.validate(); for members > 1,
// the seed ensemble of that many such models (models/ensemble.h).
ScreenModel make_model(const ModelConfig& cfg);

}  // namespace covscreen
