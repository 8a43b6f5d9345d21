#pragma once
// Every training knob, in one struct with defaults = the paper's recipe (section 4.2):
// Adam, lr 1e-5, BCE-with-logits on one-hot targets, rotation/translation augmentation.
// Loaded from JSON (--config), overridden by flags, saved as <out>/config.json and inside
// every checkpoint.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "covscreen/core/preprocess_spec.h"
#include "covscreen/models/model.h"

namespace covscreen {

struct TrainConfig {
  std::string name = "paper";  // a label for the recipe
  ModelConfig model;
  int epochs = 30;
  int batch_size = 16;
  double lr = 1e-5;
  double weight_decay = 0.0;
  std::string lr_schedule = "constant";  // constant | cosine | step
  int lr_step_epochs = 10;               // step: multiply by lr_gamma every N epochs
  double lr_gamma = 0.1;
  int warmup_epochs = 0;                 // linear warm-up from lr/10
  std::string class_weights = "none";    // none | balanced (inverse class frequency)
  int early_stopping_patience = 0;       // epochs without val AUC gain; 0 = off
  std::string threshold_rule = "youden"; // 0.5 | youden | sensitivity>=0.95 (chosen on validation)
  uint64_t seed = 42;
  std::string device = "auto";           // auto | cpu | cuda
  std::string amp = "none";              // none | bf16 | fp16 (fp16 on CUDA only)
  int threads = 0;                       // intra-op threads; 0 = LibTorch's default
  bool augment = true;
  // Batch norm while training: "local" = batch statistics of each rank's own batch (in a
  // data-parallel job, per rank, as PyTorch DDP without SyncBatchNorm; running statistics are
  // taken from rank 0 at each epoch's end); "frozen" = batch-norm layers in eval mode (running
  // statistics used and not updated, affine weights still trained), so a sample's gradient
  // does not depend on the other samples of its batch and N ranks x batch B train exactly as
  // one process with batch N x B.
  std::string bn = "local";
  PreprocessSpec spec;                   // stage 2 from here; stage 1 comes from the pack
  // deep-cxr-net only: its frozen parts (models/cxr_parts.h): a covscreen densenet121 checkpoint
  // or a torchvision / torchxrayvision DenseNet-121 state_dict each; part1_select = part 1's
  // outputs forming the finding vector, by name (a checkpoint's classes) or index (empty = all).
  std::string part1, part2;
  std::vector<std::string> part1_select;
  void validate() const;                 // throws UsageError
};

void to_json(nlohmann::json& j, const TrainConfig& c);
// Fields absent from `j` keep the values already in `c` (so a config file overrides defaults
// and flags override the file). Unknown keys are an error (typos must not pass silently);
// on any error `c` is left unchanged.
void merge_json(const nlohmann::json& j, TrainConfig& c);

// Named recipes: "paper" (the defaults above) and "scratch" (the shipped model's recipe:
// from-scratch training needs a larger lr; see README).
TrainConfig named_config(const std::string& name);

}  // namespace covscreen
