#include "covscreen/train/train_config.h"

#include "covscreen/core/error.h"
#include "covscreen/core/json_fields.h"

namespace covscreen {

const EnumNames<LrSchedule>& lr_schedule_names() {
  static const EnumNames<LrSchedule> n{
      "lr_schedule",
      {{LrSchedule::kConstant, "constant"}, {LrSchedule::kCosine, "cosine"}, {LrSchedule::kStep, "step"}}};
  return n;
}
const EnumNames<ClassWeights>& class_weights_names() {
  static const EnumNames<ClassWeights> n{"class_weights",
                                         {{ClassWeights::kNone, "none"}, {ClassWeights::kBalanced, "balanced"}}};
  return n;
}
const EnumNames<Amp>& amp_names() {
  static const EnumNames<Amp> n{"amp", {{Amp::kNone, "none"}, {Amp::kBf16, "bf16"}, {Amp::kFp16, "fp16"}}};
  return n;
}
const EnumNames<BnMode>& bn_names() {
  static const EnumNames<BnMode> n{"bn", {{BnMode::kLocal, "local"}, {BnMode::kFrozen, "frozen"}}};
  return n;
}

const EnumNames<Sampler>& sampler_names() {
  static const EnumNames<Sampler> n{"sampler", {{Sampler::kShuffle, "shuffle"}, {Sampler::kSource, "source"}}};
  return n;
}

// JSON text of the enums, through their tables (a bad value names the valid ones).
#define COVSCREEN_ENUM_JSON(Type, table)                                                                     \
  void to_json(nlohmann::json& j, Type v) { j = table().name(v); }                                           \
  void from_json(const nlohmann::json& j, Type& v) {                                                         \
    if (!j.is_string()) throw UsageError(table().key() + ": expected one of " + join(table().list(), ", ")); \
    v = table().parse(j.get<std::string>());                                                                 \
  }
COVSCREEN_ENUM_JSON(LrSchedule, lr_schedule_names)
COVSCREEN_ENUM_JSON(ClassWeights, class_weights_names)
COVSCREEN_ENUM_JSON(Amp, amp_names)
COVSCREEN_ENUM_JSON(BnMode, bn_names)
COVSCREEN_ENUM_JSON(Sampler, sampler_names)
#undef COVSCREEN_ENUM_JSON

namespace {

// The JSON fields of TrainConfig, listed once (core/json_fields.h).
template <class C, class F>
void train_fields(C& c, F&& f) {
  f("name", c.name);
  f("model", c.model);
  f("epochs", c.epochs);
  f("batch_size", c.batch_size);
  f("lr", c.lr);
  f("weight_decay", c.weight_decay);
  f("lr_schedule", c.lr_schedule);
  f("lr_step_epochs", c.lr_step_epochs);
  f("lr_gamma", c.lr_gamma);
  f("warmup_epochs", c.warmup_epochs);
  f("class_weights", c.class_weights);
  f("early_stopping_patience", c.early_stopping_patience);
  f("threshold_rule", c.threshold_rule);
  f("seed", c.seed);
  f("device", c.device);
  f("amp", c.amp);
  f("threads", c.threads);
  f("augment", c.augment);
  f("bn", c.bn);
  f("sampler", c.sampler);
  f("init", c.init);
  f("freeze", c.freeze);
  f("backbone_lr_scale", c.backbone_lr_scale);
  f("spec", c.spec);
  f("part1", c.part1);
  f("part2", c.part2);
  f("part1_select", c.part1_select);
}
constexpr auto kFields = [](auto& c, auto&& f) { train_fields(c, f); };
// Written for the record, fixed by the trainer.
const std::set<std::string> kRecordOnly{"optimizer", "loss"};

}  // namespace

void TrainConfig::validate() const {
  model.validate();
  spec.validate();
  if (epochs < 1) throw UsageError("train: epochs must be >= 1");
  if (batch_size < 1) throw UsageError("train: batch_size must be >= 1");
  if (!(lr > 0)) throw UsageError("train: lr must be > 0");
  if (weight_decay < 0) throw UsageError("train: weight_decay must be >= 0");
  if (lr_step_epochs < 1) throw UsageError("train: lr_step_epochs must be >= 1");
  if (warmup_epochs < 0) throw UsageError("train: warmup_epochs must be >= 0");
  if (early_stopping_patience < 0) throw UsageError("train: early_stopping_patience must be >= 0");
  if (threads < 0) throw UsageError("train: threads must be >= 0");
  if (!(backbone_lr_scale >= 0 && backbone_lr_scale <= 100))
    throw UsageError("train: backbone_lr_scale must be in [0, 100]");
  for (const auto& f : freeze)
    if (f.empty()) throw UsageError("train: freeze: an empty prefix would freeze the whole backbone; name its parts");
}

void to_json(nlohmann::json& j, const TrainConfig& c) {
  write_fields(j, c, kFields);
  j["optimizer"] = "adam";
  j["loss"] = "bce_with_logits_one_hot";
}

void merge_json(const nlohmann::json& j, TrainConfig& out) {
  TrainConfig c = out;  // all or nothing: `out` is unchanged when anything is wrong
  merge_fields(j, c, kFields, "train config", kRecordOnly);
  c.validate();
  out = c;
}

const Registry<TrainConfig>& recipes() {
  static const Registry<TrainConfig> r = [] {
    Registry<TrainConfig> r("recipe");
    r.add("paper", TrainConfig{});
    TrainConfig s;  // from scratch: the shipped models' recipe (README)
    s.name = "scratch";
    s.lr = 1e-4;
    s.weight_decay = 1e-4;
    s.lr_schedule = LrSchedule::kCosine;
    s.warmup_epochs = 1;
    s.class_weights = ClassWeights::kBalanced;
    r.add("scratch", s);
    // A pretrained backbone (--init): chosen by how it transfers between CT sources (README,
    // scripts/ct/finetune.sh). The stem and first stage stay fixed (generic edges; a third less
    // backward work on 2 cores), batch norm keeps the pretrained statistics (batches of 16 are
    // too small to re-estimate them), the backbone learns at a tenth of the head's rate after a
    // warm-up, every source weighs alike, and intensity (gamma) and zoom jitter stand in for
    // the windows and framings each source was saved with.
    TrainConfig t = s;
    t.name = "finetune";
    t.lr = 3e-4;
    t.backbone_lr_scale = 0.1;
    t.epochs = 8;
    t.bn = BnMode::kFrozen;
    t.freeze = {"conv1", "bn1", "layer1"};
    t.sampler = Sampler::kSource;
    t.spec.stage2.gamma_log = 0.4;
    t.spec.stage2.scale_fraction = 0.1;
    r.add("finetune", t);
    return r;
  }();
  return r;
}

TrainConfig named_config(const std::string& name) { return recipes().get(name); }

}  // namespace covscreen
