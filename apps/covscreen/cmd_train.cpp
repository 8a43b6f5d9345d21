// covscreen train: train a screening model on packs (or data sets packed on the fly).
#include <filesystem>
#include <iostream>

#include "command.h"
#include "covscreen/core/container.h"
#include "covscreen/core/error.h"
#include "covscreen/screen/data_source.h"
#include "covscreen/train/trainer.h"

namespace covscreen::app {
namespace {

struct TrainArgs {
  std::string train, val, out, config, recipe = "paper", layout = "auto", train_split, val_split;
  std::string model, device, amp;
  int epochs = 0, batch = 0, threads = -1, size = 0;
  double lr = 0, weight_decay = -1;
  long long seed = -1;
  bool resume = false, no_augment = false;
};

void run(const TrainArgs& a) {
  TrainConfig cfg = named_config(a.recipe);
  if (!a.config.empty()) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(read_file(a.config));
    } catch (const nlohmann::json::exception& e) {
      throw FileError(a.config, std::string("not valid JSON: ") + e.what());
    }
    merge_json(j, cfg);
  }
  nlohmann::json flags = nlohmann::json::object();
  if (!a.model.empty()) flags["model"] = {{"arch", a.model}};
  if (a.epochs > 0) flags["epochs"] = a.epochs;
  if (a.batch > 0) flags["batch_size"] = a.batch;
  if (a.lr > 0) flags["lr"] = a.lr;
  if (a.weight_decay >= 0) flags["weight_decay"] = a.weight_decay;
  if (a.seed >= 0) flags["seed"] = a.seed;
  if (!a.device.empty()) flags["device"] = a.device;
  if (!a.amp.empty()) flags["amp"] = a.amp;
  if (a.threads >= 0) flags["threads"] = a.threads;
  if (a.no_augment) flags["augment"] = false;
  merge_json(flags, cfg);

  const std::string cache = (std::filesystem::path(a.out) / "packs").string();
  DataSourceOptions ds;
  ds.layout = a.layout;
  ds.cache_dir = cache;
  if (a.size > 0) ds.stage1.size = a.size;
  ds.split = a.train_split;
  LoadedData train = load_data(a.train, ds);
  for (const auto& f : train.failures) std::cerr << "skipped " << f.path << ": " << f.reason << "\n";
  LoadedData val;
  if (!a.val.empty()) {
    ds.split = a.val_split;
    ds.classes = train.pack.classes;
    ds.stage1 = train.pack.spec.stage1;
    val = load_data(a.val, ds);
    for (const auto& f : val.failures) std::cerr << "skipped " << f.path << ": " << f.reason << "\n";
  }
  std::cerr << "train: " << train.description << " (" << train.pack.size() << " images)\n";
  if (!a.val.empty()) std::cerr << "val:   " << val.description << " (" << val.pack.size() << " images)\n";
  TrainInputs in;
  in.train = &train.pack;
  in.train_source = train.description;
  if (!a.val.empty()) {
    in.val = &val.pack;
    in.val_source = val.description;
  }
  TrainResult r = train_model(cfg, in, a.out, a.resume);
  std::cout << nlohmann::json{{"epochs_run", r.epochs_run},
                              {"best_epoch", r.best_epoch},
                              {"best_val_auc", r.best_val_auc},
                              {"best_checkpoint", r.best_checkpoint},
                              {"last_checkpoint", r.last_checkpoint},
                              {"train_images_per_s_last_epoch", r.images_per_s}}
                   .dump(2)
            << "\n";
}

const CommandRegistrar reg(30, [](CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  auto* c = app.add_subcommand("train", "Train a screening model (the paper's recipe by default)");
  c->add_option("--train", a->train, "Training data: a pack, a manifest CSV or a data set folder")->required();
  c->add_option("--val", a->val, "Validation data (early stopping, best checkpoint, threshold)");
  c->add_option("--out", a->out, "Output folder (config.json, log.jsonl, last.ckpt, best.ckpt)")->required();
  c->add_option("--model", a->model, "deep-ct-net | densenet121 | densenet169 | resnet50");
  c->add_option("--recipe", a->recipe, "Named config to start from: paper | scratch")->capture_default_str();
  c->add_option("--config", a->config, "JSON config; flags override it");
  c->add_option("--epochs", a->epochs, "Epochs");
  c->add_option("--batch", a->batch, "Batch size");
  c->add_option("--lr", a->lr, "Learning rate (Adam)");
  c->add_option("--weight-decay", a->weight_decay, "Weight decay");
  c->add_option("--seed", a->seed, "Seed for initialisation, shuffling and augmentation");
  c->add_option("--device", a->device, "auto | cpu | cuda");
  c->add_option("--amp", a->amp, "none | bf16 | fp16 autocast");
  c->add_option("--threads", a->threads, "Intra-op threads (0 = default)");
  c->add_option("--size", a->size, "Stage-1 image size when packing on the fly (default 256)");
  c->add_option("--layout", a->layout, "Layout of folder inputs (auto, folders, covid-ct, ...)");
  c->add_option("--train-split", a->train_split, "Split of --train to use (e.g. train)");
  c->add_option("--val-split", a->val_split, "Split of --val to use (e.g. val)");
  c->add_flag("--no-augment", a->no_augment, "Turn off rotation/translation augmentation");
  c->add_flag("--resume", a->resume, "Continue the run in --out from last.ckpt");
  c->callback([a] { run(*a); });
});

}  // namespace
}  // namespace covscreen::app
