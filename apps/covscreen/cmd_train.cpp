// covscreen train: train a screening model on packs (or data sets packed on the fly).
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>

#include "command.h"
#include "covscreen/core/container.h"
#include "covscreen/core/error.h"
#include "covscreen/core/strings.h"
#include "covscreen/data/layouts.h"
#include "covscreen/dist/context.h"
#include "covscreen/dist/launcher.h"
#include "covscreen/inference/inference.h"
#include "covscreen/models/registry.h"
#include "covscreen/preprocess/data_source.h"
#include "covscreen/train/trainer.h"

namespace covscreen::app {
namespace {

struct TrainArgs {
  std::string train, val, out, config, recipe = "paper", layout = "auto", train_split, val_split;
  std::string model, device, amp, threshold_rule, lr_schedule, class_weights;
  int epochs = 0, batch = 0, threads = -1, size = 0;
  LungCropSpec lungs;
  double lr = 0, weight_decay = -1;
  long long seed = -1;
  bool resume = false, no_augment = false;
  std::string bn, sampler, backbone, init, freeze;
  double backbone_lr_scale = -1;
  std::string part1, part2, part1_select;  // deep-cxr-net
  // distributed (see include/covscreen/dist/): flags override the torchrun variables
  int nproc = 0, world_size = 0, rank = -1, local_rank = -1, master_port = 0;
  std::string master_addr;
  dist::Backend dist_backend = dist::Backend::kAuto;
  int dist_timeout = 300, bucket_mb = 25;
  bool no_overlap = false;
};

// The job this process belongs to: torchrun's environment, then the flags; nullopt = none.
std::optional<dist::Rendezvous> job_from(const TrainArgs& a) {
  std::optional<dist::Rendezvous> rv = dist::rendezvous_from_env();
  if (a.world_size > 0 || a.rank >= 0 || !a.master_addr.empty() || a.master_port > 0) {
    if (!rv) rv = dist::Rendezvous{};
    if (a.world_size > 0) rv->world_size = a.world_size;
    if (a.rank >= 0) rv->rank = a.rank;
    if (a.local_rank >= 0) rv->local_rank = a.local_rank;
    if (!a.master_addr.empty()) rv->master_addr = a.master_addr;
    if (a.master_port > 0) rv->master_port = a.master_port;
    rv->validate();
  }
  return rv;
}

void run(const TrainArgs& a) {
  if (a.nproc > 0) {  // the local launcher: N copies of this command line without --nproc
    if (const std::string why = dist::unavailable_reason(); !why.empty()) throw UsageError(why);
    dist::LaunchOptions lo;
    lo.nproc = a.nproc;
    lo.master_port = a.master_port;
    const int rc = dist::launch_local(dist::drop_option(dist::own_command_line(), "--nproc"), lo);
    if (rc != 0) throw ExitCode{rc};
    return;
  }
  const std::optional<dist::Rendezvous> job = job_from(a);
  if (job) {
    if (const std::string why = dist::unavailable_reason(); !why.empty()) throw UsageError(why);
  }
  TrainConfig cfg = train_config_from(a.recipe, a.config);
  nlohmann::json flags = nlohmann::json::object();
  if (!a.model.empty()) flags["model"] = {{"arch", a.model}};
  if (a.epochs > 0) flags["epochs"] = a.epochs;
  if (a.batch > 0) flags["batch_size"] = a.batch;
  if (a.lr > 0) flags["lr"] = a.lr;
  if (a.weight_decay >= 0) flags["weight_decay"] = a.weight_decay;
  if (a.seed >= 0) flags["seed"] = a.seed;
  if (!a.device.empty()) flags["device"] = a.device;
  if (!a.amp.empty()) flags["amp"] = a.amp;
  if (!a.threshold_rule.empty()) flags["threshold_rule"] = a.threshold_rule;
  if (!a.lr_schedule.empty()) flags["lr_schedule"] = a.lr_schedule;
  if (!a.class_weights.empty()) flags["class_weights"] = a.class_weights;
  if (a.threads >= 0) flags["threads"] = a.threads;
  if (a.no_augment) flags["augment"] = false;
  if (!a.bn.empty()) flags["bn"] = a.bn;
  if (!a.sampler.empty()) flags["sampler"] = a.sampler;
  if (!a.backbone.empty()) flags["model"]["backbone"] = a.backbone;
  if (!a.init.empty()) {
    if (!std::filesystem::is_regular_file(a.init)) throw UsageError("--init: no file " + a.init);
    flags["init"] = a.init;
  }
  if (!a.freeze.empty()) flags["freeze"] = a.freeze == "none" ? std::vector<std::string>{} : split_list(a.freeze);
  if (a.backbone_lr_scale >= 0) flags["backbone_lr_scale"] = a.backbone_lr_scale;
  if (!a.part1.empty()) flags["part1"] = a.part1;
  if (!a.part2.empty()) flags["part2"] = a.part2;
  if (!a.part1_select.empty()) flags["part1_select"] = split_list(a.part1_select);
  merge_json(flags, cfg);

  const std::string cache = (std::filesystem::path(a.out) / "packs").string();
  DataSourceOptions ds;
  ds.layout = a.layout;
  ds.cache_dir = cache;
  if (a.size > 0) ds.stage1.size = a.size;
  ds.stage1.lungs = a.lungs;
  ds.split = a.train_split;
  LoadedData train = load_data(a.train, ds);
  for (const auto& f : train.failures) std::cerr << "skipped " << f.path << ": " << f.reason << "\n";
  if (a.lungs.enabled && train.pack.spec.stage1.lungs != a.lungs)  // a pack keeps the stage 1 it was made with
    throw UsageError("--lung-crop: " + a.train + " was packed with another lung crop (" +
                     nlohmann::json(train.pack.spec).at("stage1").at("lungs").dump() +
                     "); pack it again with these flags, or leave them out");
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
  std::unique_ptr<dist::DistributedContext> ctx;
  if (job) {
    dist::DistOptions o;
    o.rendezvous = *job;
    o.group.backend = a.dist_backend;
    o.group.cuda = resolve_device(cfg.device).is_cuda();
    o.group.timeout = std::chrono::seconds(a.dist_timeout);
    o.reducer.bucket_bytes = static_cast<size_t>(a.bucket_mb) << 20;
    o.reducer.overlap = !a.no_overlap;
    ctx = std::make_unique<dist::DistributedContext>(o);
    in.dist = ctx.get();
  }
  TrainResult r = train_model(cfg, in, a.out, a.resume);
  if (ctx && ctx->rank() != 0) return;  // rank 0 reports
  std::cout << nlohmann::json{{"epochs_run", r.epochs_run},           {"best_epoch", r.best_epoch},
                              {"best_val_auc", r.best_val_auc},       {"best_checkpoint", r.best_checkpoint},
                              {"last_checkpoint", r.last_checkpoint}, {"train_images_per_s_last_epoch", r.images_per_s}}
                   .dump(2)
            << "\n";
}

const CommandRegistrar train_command(30, [](CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  auto* c = app.add_subcommand("train", "Train a screening model (the paper's recipe by default)");
  c->add_option("--train", a->train, "Training data: a pack, a manifest CSV or a data set folder")->required();
  c->add_option("--val", a->val, "Validation data (early stopping, best checkpoint, threshold)");
  c->add_option("--out", a->out, "Output folder (config.json, log.jsonl, last.ckpt, best.ckpt)")->required();
  c->add_option("--model", a->model, "Architecture: " + architectures().choices())
      ->check(registry_check(architectures()));
  c->add_option("--part1", a->part1,
                "deep-cxr-net: frozen part 1, a multi-label findings classifier (densenet121 checkpoint or "
                "torchvision/torchxrayvision DenseNet-121 state_dict)");
  c->add_option("--part2", a->part2, "deep-cxr-net: frozen part 2, a normal/pneumonia classifier (same kinds)");
  c->add_option("--part1-select", a->part1_select,
                "deep-cxr-net: part 1 outputs forming the finding vector, names or indices, comma-separated "
                "(default: all)");
  c->add_option("--recipe", a->recipe, "Named config to start from: " + recipes().choices())
      ->capture_default_str()
      ->check(registry_check(recipes()));
  c->add_option("--config", a->config, "JSON config; flags override it");
  c->add_option("--epochs", a->epochs, "Epochs");
  c->add_option("--batch", a->batch, "Batch size");
  c->add_option("--lr", a->lr, "Learning rate (Adam)");
  c->add_option("--weight-decay", a->weight_decay, "Weight decay");
  c->add_option("--seed", a->seed, "Seed for initialisation, shuffling and augmentation");
  c->add_option("--device", a->device, "Device: " + device_names().choices())->check(enum_check(device_names()));
  c->add_option("--amp", a->amp, "Autocast: " + amp_names().choices())->check(enum_check(amp_names()));
  c->add_option("--lr-schedule", a->lr_schedule, "Learning-rate schedule: " + lr_schedule_names().choices())
      ->check(enum_check(lr_schedule_names()));
  c->add_option("--class-weights", a->class_weights, "Loss weights: " + class_weights_names().choices())
      ->check(enum_check(class_weights_names()));
  add_threshold_rule_option(c, "--threshold-rule", &a->threshold_rule, "Decision threshold chosen on --val");
  c->add_option("--threads", a->threads, "Intra-op threads (0 = default)");
  c->add_option("--size", a->size, "Stage-1 image size when packing on the fly (default 256)");
  add_lung_crop_options(c, &a->lungs);
  c->add_option("--layout", a->layout, "Layout of folder inputs: " + layouts().choices())
      ->check(registry_check(layouts()));
  c->add_option("--train-split", a->train_split, "Split of --train to use (e.g. train)");
  c->add_option("--val-split", a->val_split, "Split of --val to use (e.g. val)");
  c->add_flag("--no-augment", a->no_augment, "Turn off rotation/translation augmentation");
  c->add_flag("--resume", a->resume, "Continue the run in --out from last.ckpt (every rank of a job)");
  c->add_option("--backbone", a->backbone, "Backbone of deep-ct-net / deep-cxr-net: " + backbones().choices())
      ->check(registry_check(backbones()));
  c->add_option("--init", a->init,
                "Backbone weights to start from: a torch.save state_dict in torchvision names (e.g. from `covscreen "
                "model import-keras`, scripts/get-imagenet-resnet50)");
  c->add_option("--freeze", a->freeze,
                "Backbone parts kept fixed, comma-separated name prefixes (e.g. conv1,bn1,layer1), or none");
  c->add_option("--backbone-lr-scale", a->backbone_lr_scale, "The backbone learns at lr x this (finetune: 0.1)");
  c->add_option("--sampler", a->sampler, "Images per epoch: " + sampler_names().choices())
      ->check(enum_check(sampler_names()));
  c->add_option("--bn", a->bn,
                "Batch norm while training (local: per rank; frozen: eval-mode BN): " + bn_names().choices())
      ->check(enum_check(bn_names()));
  c->add_option("--nproc", a->nproc, "Start N local worker processes of a data-parallel job (like torchrun)")
      ->check(CLI::Range(1, 1024));
  c->add_option("--world-size", a->world_size, "Ranks in the job (default: $WORLD_SIZE)");
  c->add_option("--rank", a->rank, "This process's rank (default: $RANK)");
  c->add_option("--local-rank", a->local_rank, "Rank on this machine, the CUDA device index (default: $LOCAL_RANK)");
  c->add_option("--master-addr", a->master_addr, "Host of rank 0's store (default: $MASTER_ADDR or 127.0.0.1)");
  c->add_option("--master-port", a->master_port, "Port of rank 0's store (default: $MASTER_PORT or 29500)");
  add_enum_option(c, "--dist-backend", a->dist_backend, dist::backend_names(),
                  "Distributed backend (auto: nccl on CUDA, gloo on CPU)");
  c->add_option("--dist-timeout", a->dist_timeout, "Seconds a rank waits for the others before failing")
      ->capture_default_str()
      ->check(CLI::Range(1, 86400));
  c->add_option("--bucket-mb", a->bucket_mb, "Gradient all-reduce bucket size in MB")->capture_default_str();
  c->add_flag("--no-overlap", a->no_overlap, "All-reduce the gradients after backward, not during it");
  c->callback([a] { run(*a); });
});

}  // namespace

TrainConfig train_config_from(const std::string& recipe, const std::string& config_path) {
  TrainConfig cfg = named_config(recipe);
  if (!config_path.empty()) merge_json(read_json_file(config_path), cfg);
  return cfg;
}

}  // namespace covscreen::app
