#pragma once
// Every training knob, in one struct with defaults = the paper's recipe (section 4.2):
// Adam, lr 1e-5, BCE-with-logits on one-hot targets, rotation/translation augmentation.
// Loaded from JSON (--config), overridden by flags, saved as <out>/config.json and inside
// every checkpoint. Choices are typed: their text is parsed once, when the config is read, and a
// bad value fails there, naming the key, the value and the valid values:
//   TrainConfig c = named_config("scratch");
//   merge_json({{"amp", "bf16"}, {"threshold_rule", "sensitivity>=0.95"}}, c);
//   c.amp == Amp::kBf16; c.threshold_rule.value == 0.95
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "covscreen/core/preprocess_spec.h"
#include "covscreen/core/registry.h"
#include "covscreen/inference/inference.h"
#include "covscreen/metrics/threshold.h"
#include "covscreen/models/model.h"

namespace covscreen {

enum class LrSchedule { kConstant, kCosine, kStep };
enum class ClassWeights { kNone, kBalanced };  // balanced: inverse class frequency
enum class Amp { kNone, kBf16, kFp16 };        // autocast; fp16 on CUDA only
// Batch norm while training: local = batch statistics of each rank's own batch (in a
// data-parallel job, per rank, as PyTorch DDP without SyncBatchNorm; running statistics are
// taken from rank 0 at each epoch's end); frozen = batch-norm layers in eval mode (running
// statistics used and not updated, affine weights still trained), so a sample's gradient
// does not depend on the other samples of its batch and N ranks x batch B train exactly as
// one process with batch N x B.
enum class BnMode { kLocal, kFrozen };
// Which images an epoch visits: shuffle = each labelled image once, in a seeded order;
// source = as many images as shuffle, an equal share from each source of the pack
// (Pack::sources), drawn without replacement and cycled when a source is smaller than its share,
// so that one data set cannot set the model's idea of a class alone.
enum class Sampler { kShuffle, kSource };

const EnumNames<LrSchedule>& lr_schedule_names();      // constant | cosine | step
const EnumNames<ClassWeights>& class_weights_names();  // none | balanced
const EnumNames<Amp>& amp_names();                     // none | bf16 | fp16
const EnumNames<BnMode>& bn_names();                   // local | frozen
const EnumNames<Sampler>& sampler_names();             // shuffle | source
void to_json(nlohmann::json& j, LrSchedule v);
void from_json(const nlohmann::json& j, LrSchedule& v);
void to_json(nlohmann::json& j, ClassWeights v);
void from_json(const nlohmann::json& j, ClassWeights& v);
void to_json(nlohmann::json& j, Amp v);
void from_json(const nlohmann::json& j, Amp& v);
void to_json(nlohmann::json& j, BnMode v);
void from_json(const nlohmann::json& j, BnMode& v);
void to_json(nlohmann::json& j, Sampler v);
void from_json(const nlohmann::json& j, Sampler& v);

struct TrainConfig {
  std::string name = "paper";  // a label for the recipe
  ModelConfig model;
  int epochs = 30;
  int batch_size = 16;
  double lr = 1e-5;
  double weight_decay = 0.0;
  LrSchedule lr_schedule = LrSchedule::kConstant;
  int lr_step_epochs = 10;  // step: multiply by lr_gamma every N epochs
  double lr_gamma = 0.1;
  int warmup_epochs = 0;  // linear warm-up from lr/10
  ClassWeights class_weights = ClassWeights::kNone;
  int early_stopping_patience = 0;        // epochs without val AUC gain; 0 = off
  metrics::ThresholdRule threshold_rule;  // chosen on validation (default youden)
  uint64_t seed = 42;
  DeviceKind device = DeviceKind::kAuto;
  Amp amp = Amp::kNone;
  int threads = 0;  // intra-op threads; 0 = LibTorch's default
  bool augment = true;
  BnMode bn = BnMode::kLocal;
  Sampler sampler = Sampler::kShuffle;
  // Fine-tuning a pretrained backbone (recipe "finetune"):
  // init: a torch.save state_dict with the backbone's weights in torchvision names (e.g. the
  //   converted ImageNet ResNet-50 of `covscreen model import-keras`), loaded before training;
  //   the checkpoint records the file, its SHA-256 and what was loaded. "" = fresh weights.
  std::string init;
  // Backbone parameters kept fixed, by name prefix within the backbone (torchvision names:
  //   "conv1", "bn1", "layer1" for resnet; "features.conv0", "features.denseblock1" for densenet).
  std::vector<std::string> freeze;
  double backbone_lr_scale = 1.0;  // the backbone's learning rate is lr x this; the rest trains at lr
  PreprocessSpec spec;             // stage 2 from here; stage 1 comes from the pack
  // Models built from frozen parts (deep-cxr-net, models/cxr_parts.h): a covscreen densenet121
  // checkpoint or a torchvision / torchxrayvision DenseNet-121 state_dict each; part1_select =
  // part 1's outputs forming the finding vector, by name or index (empty = all).
  std::string part1, part2;
  std::vector<std::string> part1_select;
  void validate() const;  // ranges; throws UsageError
};

void to_json(nlohmann::json& j, const TrainConfig& c);
// Fields absent from `j` keep the values already in `c` (so a config file overrides defaults
// and flags override the file). Unknown keys and bad values are an error (typos must not pass
// silently); on any error `c` is left unchanged.
void merge_json(const nlohmann::json& j, TrainConfig& c);

// Named recipes: "paper" (the defaults above), "scratch" (from-scratch training needs a larger
// lr) and "finetune" (a pretrained backbone: --init; README "Training recipes").
const Registry<TrainConfig>& recipes();
TrainConfig named_config(const std::string& name);

}  // namespace covscreen
