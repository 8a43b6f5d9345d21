#include "covscreen/train/train_config.h"

#include <set>

#include "covscreen/core/error.h"

namespace covscreen {

void TrainConfig::validate() const {
  model.validate();
  spec.validate();
  if (epochs < 1) throw UsageError("train: epochs must be >= 1");
  if (batch_size < 1) throw UsageError("train: batch size must be >= 1");
  if (!(lr > 0)) throw UsageError("train: lr must be > 0");
  if (weight_decay < 0) throw UsageError("train: weight_decay must be >= 0");
  static const std::set<std::string> schedules{"constant", "cosine", "step"};
  if (!schedules.count(lr_schedule)) throw UsageError("train: lr_schedule must be constant, cosine or step");
  if (class_weights != "none" && class_weights != "balanced")
    throw UsageError("train: class_weights must be none or balanced");
  if (device != "auto" && device != "cpu" && device != "cuda") throw UsageError("train: device must be auto, cpu or cuda");
  if (amp != "none" && amp != "bf16" && amp != "fp16") throw UsageError("train: amp must be none, bf16 or fp16");
  if (threshold_rule != "0.5" && threshold_rule != "youden" && threshold_rule.rfind("sensitivity>=", 0) != 0)
    throw UsageError("train: threshold_rule must be 0.5, youden or sensitivity>=X");
  if (bn != "local" && bn != "frozen") throw UsageError("train: bn must be local or frozen");
  if (early_stopping_patience < 0) throw UsageError("train: early_stopping_patience must be >= 0");
}

void to_json(nlohmann::json& j, const TrainConfig& c) {
  j = {{"name", c.name},
       {"model", c.model},
       {"epochs", c.epochs},
       {"batch_size", c.batch_size},
       {"lr", c.lr},
       {"weight_decay", c.weight_decay},
       {"lr_schedule", c.lr_schedule},
       {"lr_step_epochs", c.lr_step_epochs},
       {"lr_gamma", c.lr_gamma},
       {"warmup_epochs", c.warmup_epochs},
       {"class_weights", c.class_weights},
       {"early_stopping_patience", c.early_stopping_patience},
       {"threshold_rule", c.threshold_rule},
       {"seed", c.seed},
       {"device", c.device},
       {"amp", c.amp},
       {"threads", c.threads},
       {"augment", c.augment},
       {"bn", c.bn},
       {"optimizer", "adam"},
       {"loss", "bce_with_logits_one_hot"},
       {"spec", c.spec}};
  if (c.model.arch == "deep-cxr-net") {
    j["part1"] = c.part1;
    j["part2"] = c.part2;
    j["part1_select"] = c.part1_select;
  }
}

void merge_json(const nlohmann::json& j, TrainConfig& out) {
  TrainConfig c = out;  // all or nothing: `out` is unchanged when anything is wrong
  if (!j.is_object()) throw UsageError("train config must be a JSON object");
  static const std::set<std::string> known{
      "name", "model", "epochs", "batch_size", "lr", "weight_decay", "lr_schedule", "lr_step_epochs", "lr_gamma",
      "warmup_epochs", "class_weights", "early_stopping_patience", "threshold_rule", "seed", "device", "amp",
      "threads", "augment", "bn", "optimizer", "loss", "spec", "part1", "part2", "part1_select"};
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!known.count(it.key())) throw UsageError("train config: unknown key '" + it.key() + "'");
  try {
    if (j.contains("model")) {
      nlohmann::json m = c.model;
      m.update(j["model"]);
      c.model = m.get<ModelConfig>();
    }
    if (j.contains("spec")) {
      nlohmann::json s = c.spec;
      for (auto& part : {"stage1", "stage2"})
        if (j["spec"].contains(part)) s[part].update(j["spec"][part]);
      c.spec = s.get<PreprocessSpec>();
    }
    c.name = j.value("name", c.name);
    c.epochs = j.value("epochs", c.epochs);
    c.batch_size = j.value("batch_size", c.batch_size);
    c.lr = j.value("lr", c.lr);
    c.weight_decay = j.value("weight_decay", c.weight_decay);
    c.lr_schedule = j.value("lr_schedule", c.lr_schedule);
    c.lr_step_epochs = j.value("lr_step_epochs", c.lr_step_epochs);
    c.lr_gamma = j.value("lr_gamma", c.lr_gamma);
    c.warmup_epochs = j.value("warmup_epochs", c.warmup_epochs);
    c.class_weights = j.value("class_weights", c.class_weights);
    c.early_stopping_patience = j.value("early_stopping_patience", c.early_stopping_patience);
    c.threshold_rule = j.value("threshold_rule", c.threshold_rule);
    c.seed = j.value("seed", c.seed);
    c.device = j.value("device", c.device);
    c.amp = j.value("amp", c.amp);
    c.threads = j.value("threads", c.threads);
    c.augment = j.value("augment", c.augment);
    c.bn = j.value("bn", c.bn);
    c.part1 = j.value("part1", c.part1);
    c.part2 = j.value("part2", c.part2);
    c.part1_select = j.value("part1_select", c.part1_select);
  } catch (const nlohmann::json::exception& e) {
    throw UsageError(std::string("train config: ") + e.what());
  }
  c.validate();
  out = c;
}

TrainConfig named_config(const std::string& name) {
  TrainConfig c;
  if (name == "paper") return c;
  if (name == "scratch") {
    c.name = "scratch";
    c.lr = 1e-4;
    c.weight_decay = 1e-4;
    c.lr_schedule = "cosine";
    c.warmup_epochs = 1;
    c.class_weights = "balanced";
    return c;
  }
  throw UsageError("unknown recipe '" + name + "' (known: paper, scratch)");
}

}  // namespace covscreen
