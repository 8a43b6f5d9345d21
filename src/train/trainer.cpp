#include "covscreen/train/trainer.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>

#include "covscreen/core/compat.h"
#include "covscreen/core/container.h"
#include "covscreen/core/error.h"
#include "covscreen/core/keyed_hash.h"
#include "covscreen/core/progress.h"
#include "covscreen/core/strings.h"
#include "covscreen/data/stage2.h"
#include "covscreen/inference/inference.h"
#include "covscreen/models/checkpoint.h"
#include "covscreen/models/registry.h"
#include "covscreen/models/state_dict.h"
#include "covscreen/train/fine_tune.h"
#include "covscreen/train/sampling.h"
#include "covscreen/train/validation.h"

namespace covscreen {
namespace fs = std::filesystem;

namespace {

double lr_at(const TrainConfig& c, int epoch) {
  double lr = c.lr;
  if (c.lr_schedule == LrSchedule::kCosine) {
    const int span = std::max(1, c.epochs - c.warmup_epochs);
    const double t = std::max(0, epoch - c.warmup_epochs) / static_cast<double>(span);
    lr = c.lr * 0.5 * (1.0 + std::cos(M_PI * t));
  } else if (c.lr_schedule == LrSchedule::kStep) {
    lr = c.lr * std::pow(c.lr_gamma, epoch / std::max(1, c.lr_step_epochs));
  }
  if (epoch < c.warmup_epochs) lr = c.lr * (0.1 + 0.9 * epoch / static_cast<double>(c.warmup_epochs));
  return lr;
}

// Per-class loss weights: inverse frequency, normalised to mean 1 over samples.
std::vector<float> class_weights(ClassWeights mode, const Pack& p, const std::vector<int64_t>& idx) {
  const size_t k = p.classes.size();
  std::vector<float> w(k, 1.0f);
  if (mode != ClassWeights::kBalanced) return w;
  std::vector<double> count(k, 0.0);
  for (int64_t i : idx) count[p.labels[i]] += 1;
  for (size_t j = 0; j < k; ++j) w[j] = count[j] > 0 ? static_cast<float>(idx.size() / (k * count[j])) : 0.0f;
  return w;
}

// Multi-label "balanced": per finding, positives and negatives weigh half each (w = n / (2 count));
// [2, K]: row 0 the weight of a negative, row 1 of a positive. All ones otherwise.
torch::Tensor finding_weights(ClassWeights mode, const torch::Tensor& targets) {
  const int64_t n = targets.size(0);
  auto w = torch::ones({2, targets.size(1)});
  if (mode != ClassWeights::kBalanced) return w;
  const auto pos = (targets >= 0.5).to(torch::kFloat32).sum(0);
  w[1] = torch::where(pos > 0, n / (2 * pos), torch::zeros_like(pos));
  w[0] = torch::where(pos < n, n / (2 * (n - pos)), torch::zeros_like(pos));
  return w;
}

// Temporary files ("<name>.tmp-<pid>", core/container.h) left in out_dir by a killed run.
void remove_stale_temporaries(const std::string& out_dir) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(out_dir, ec)) {
    const std::string name = e.path().filename().string();
    if (e.is_regular_file(ec) && name.find(".tmp-") != std::string::npos) fs::remove(e.path(), ec);
  }
}

std::string serialize_optimizer(torch::optim::Optimizer& opt) {
  torch::serialize::OutputArchive ar;
  opt.save(ar);
  std::ostringstream os;
  ar.save_to(os);
  return os.str();
}

void restore_optimizer(torch::optim::Optimizer& opt, const std::string& bytes, const std::string& path) {
  if (bytes.empty()) throw FileError(path, "checkpoint has no optimizer state; it cannot be resumed");
  std::istringstream is(bytes);
  torch::serialize::InputArchive ar;
  ar.load_from(is);
  opt.load(ar);
}

class ConsoleReporter : public TrainReporter {
 public:
  void note(const std::string& text) override { std::cerr << text << "\n"; }
  void epoch_begin(int epoch, int epochs, int64_t images) override {
    bar_ = std::make_unique<Progress>("epoch " + std::to_string(epoch) + "/" + std::to_string(epochs),
                                      static_cast<size_t>(images));
  }
  void batch_end(int64_t images, double mean_loss) override {
    std::ostringstream sfx;
    sfx.precision(4);
    sfx << "loss " << mean_loss;
    if (bar_) bar_->advance(static_cast<size_t>(images), sfx.str());
  }
  void epoch_end(const nlohmann::json& line) override {
    if (bar_) bar_->finish();
    bar_.reset();
    std::cerr << line.dump() << "\n";
  }

 private:
  std::unique_ptr<Progress> bar_;
};

class SilentReporter : public TrainReporter {
 public:
  void note(const std::string&) override {}
  void epoch_begin(int, int, int64_t) override {}
  void batch_end(int64_t, double) override {}
  void epoch_end(const nlohmann::json&) override {}
};

struct EpochStats {
  double loss = 0, lr = 0, seconds = 0;
  int64_t images = 0;
};

// One training run, as named steps; run() reads top to bottom as the recipe.
class Trainer {
 public:
  Trainer(const TrainConfig& cfg, const TrainInputs& in, const std::string& out_dir)
      : cfg_(cfg),
        in_(in),
        train_(*in.train),
        dist_(in.dist),
        writer_(!dist_ || dist_->rank() == 0),
        out_dir_(out_dir),
        last_path_((fs::path(out_dir) / "last.ckpt").string()),
        best_path_((fs::path(out_dir) / "best.ckpt").string()),
        log_path_((fs::path(out_dir) / "log.jsonl").string()),
        device_(torch::kCPU),
        stage2_(cfg.spec.stage2) {
    if (in.reporter && writer_) {
      report_ = in.reporter;
    } else {
      owned_reporter_ = writer_ ? console_reporter() : std::make_unique<SilentReporter>();
      report_ = owned_reporter_.get();
    }
  }

  TrainResult run(bool resume) {
    check_inputs();
    prepare_model();
    resume_state(resume);
    prepare_data();
    for (int epoch = start_epoch_; epoch < cfg_.epochs; ++epoch) {
      const EpochStats stats = run_epoch(epoch);
      const bool improved = validate(epoch, stats);
      save_checkpoints(epoch, improved);
      result_.epochs_run = epoch + 1;
      if (early_stop()) break;
    }
    add_typicality();
    if (dist_) dist_->barrier();  // the job ends when rank 0 has written its checkpoints
    result_.best_checkpoint = best_path_;
    result_.last_checkpoint = last_path_;
    return result_;
  }

 private:
  // The data fits the config; the model's input and class count come from the training pack.
  void check_inputs() {
    if (train_.size() == 0) throw UsageError("train: the training pack is empty");
    multilabel_ = train_.multilabel();
    cfg_.model.num_classes = static_cast<int>(train_.classes.size());
    cfg_.model.input_size = static_cast<int>(train_.images.size(1));
    cfg_.spec.stage1 = train_.spec.stage1;
    cfg_.validate();
    if (!multilabel_ && train_.classes.size() < 2)
      throw UsageError("train: need at least 2 classes, the pack has " + std::to_string(train_.classes.size()));
    if (in_.val && (in_.val->classes != train_.classes || in_.val->multilabel() != multilabel_))
      throw UsageError("train: validation pack classes differ from the training pack's");
    if (cfg_.amp == Amp::kFp16 && resolve_device(cfg_.device).type() != torch::kCUDA)
      throw UsageError("train: amp fp16 needs CUDA (use bf16 on the CPU)");
    if (cfg_.threads > 0) torch::set_num_threads(cfg_.threads);
    if (cfg_.sampler == Sampler::kSource && train_.sources.empty())
      throw UsageError(
          "train: sampler 'source' needs a training pack that records each image's source (packs "
          "built from a manifest or a folder by this version; rebuild older ones)");
  }

  // The model from the architecture registry (frozen parts included), on its device, and Adam
  // over the parameters that train.
  void prepare_model() {
    device_ = dist_ ? dist_->place(resolve_device(cfg_.device)) : resolve_device(cfg_.device);
    ModelBuildContext ctx;
    ctx.classes = train_.classes;
    ctx.multilabel = multilabel_;
    ctx.spec = cfg_.spec;
    ctx.parts = {cfg_.part1, cfg_.part2, cfg_.part1_select};
    nlohmann::json init_record;
    if (!cfg_.init.empty()) ctx.init = [&](ScreenModelImpl& net) { init_record = init_backbone(net); };
    torch::manual_seed(cfg_.seed);
    BuiltModel built = build_for_training(cfg_.model, ctx);
    net_ = built.net;
    build_record_ = std::move(built.record);
    if (!init_record.is_null()) build_record_["init"] = init_record;
    freeze_backbone(*net_, cfg_.model, cfg_.freeze);
    net_->to(device_);
    to_channels_last(*net_);  // NHWC weights for the NHWC inputs below (oneDNN, cuDNN with AMP)
    // Adam over what trains (frozen parts stay out): the backbone in a group of its own when it
    // learns at another rate (group_scale_: each group's lr / cfg_.lr).
    std::vector<torch::Tensor> backbone, rest;
    for (const auto& p : net_->named_parameters(true))
      if (p.value().requires_grad())
        (cfg_.backbone_lr_scale != 1.0 && !backbone_key(*net_, cfg_.model, p.key()).empty() ? backbone : rest)
            .push_back(p.value());
    std::vector<torch::optim::OptimizerParamGroup> groups;
    group_scale_.clear();
    auto add_group = [&](std::vector<torch::Tensor>& params, double scale) {
      if (params.empty()) return;
      groups.emplace_back(params, std::make_unique<torch::optim::AdamOptions>(
                                      torch::optim::AdamOptions(cfg_.lr * scale).weight_decay(cfg_.weight_decay)));
      group_scale_.push_back(scale);
    };
    add_group(rest, 1.0);
    add_group(backbone, cfg_.backbone_lr_scale);
    if (groups.empty()) throw UsageError("train: nothing to train (every parameter is frozen)");
    opt_ = std::make_unique<torch::optim::Adam>(std::move(groups),
                                                torch::optim::AdamOptions(cfg_.lr).weight_decay(cfg_.weight_decay));
    ck_.model = cfg_.model;
    ck_.classes = train_.classes;
    ck_.spec = cfg_.spec;
    ck_.net = net_;
  }

  // --init: the backbone's weights from a state_dict (all of them, or the run stops); the record.
  nlohmann::json init_backbone(ScreenModelImpl& net) {
    const StateDict sd = read_state_dict(cfg_.init);
    const ImportReport rep = import_backbone(net, cfg_.model, sd, cfg_.init);
    if (!rep.complete())
      throw FileError(cfg_.init, std::to_string(rep.missing.size()) + " backbone tensors of " +
                                     backbone_name(cfg_.model) + " are not in it, e.g. '" + rep.missing.front() + "'");
    report_->note("init: " + std::to_string(rep.loaded.size()) + " backbone tensors from " + cfg_.init);
    return {{"file", fs::path(cfg_.init).filename().string()},
            {"sha256", to_hex(sha256(read_file(cfg_.init)))},
            {"tensors_loaded", rep.loaded.size()},
            {"keys_ignored", rep.ignored.size()}};
  }

  // With --resume: weights, optimizer, history and early-stopping state from last.ckpt.
  void resume_state(bool resume) {
    const bool out_dir_existed = fs::is_directory(out_dir_);
    if (writer_) {
      fs::create_directories(out_dir_);
      remove_stale_temporaries(out_dir_);
    }
    if (resume && !fs::exists(last_path_)) {
      // A run killed before its first checkpoint: out_dir exists but holds nothing to resume.
      if (!out_dir_existed) throw UsageError("--resume: no " + last_path_ + " to resume from");
      report_->note("--resume: no " + last_path_ + " yet; starting " + out_dir_ + " from epoch 1");
      resume = false;
    }
    if (resume) {
      Checkpoint prev = load_checkpoint(last_path_);
      if (prev.model.arch != cfg_.model.arch || prev.classes != train_.classes)
        throw FileError(last_path_, "was written by a run with another architecture or class list");
      torch::NoGradGuard ng;
      auto src = prev.net->named_parameters(true);
      for (auto& p : net_->named_parameters(true)) p.value().copy_(src[p.key()]);
      auto srcb = prev.net->named_buffers(true);
      for (auto& b : net_->named_buffers(true)) b.value().copy_(srcb[b.key()]);
      restore_optimizer(*opt_, prev.optimizer_state, last_path_);
      start_epoch_ = prev.training.value("epoch", -1) + 1;
      result_.best_val_auc = prev.extra.value("best_val_auc", -1.0);
      result_.best_epoch = prev.extra.value("best_epoch", -1);
      stale_ = prev.extra.value("stale_epochs", 0);
      history_ = prev.extra.value("history", nlohmann::json::array());
      ck_.threshold = prev.threshold;
      ck_.threshold_rule = prev.threshold_rule;
      ck_.metrics = prev.metrics;
      result_.epochs_run = start_epoch_;  // already complete when the kill came after the last epoch
      // The log as of last.ckpt: drops lines of an epoch that ran after it, and a half-written line.
      if (writer_ && !history_.empty()) {
        std::string lines;
        for (const auto& h : history_) lines += h.dump() + "\n";
        write_file_atomic(log_path_, lines);
      }
      report_->note("resuming " + out_dir_ + " at epoch " + std::to_string(start_epoch_ + 1) + "/" +
                    std::to_string(cfg_.epochs));
    }
    if (dist_) dist_->setup(*net_);  // parameters from rank 0; gradient hooks
    if (writer_) {
      write_file_atomic((fs::path(out_dir_) / "config.json").string(), nlohmann::json(cfg_).dump(2) + "\n");
      log_.open(log_path_, resume ? std::ios::app : std::ios::trunc);
      if (!log_) throw FileError(log_path_, "cannot open for writing");
    }
  }

  // The labelled images and the loss weights.
  void prepare_data() {
    for (int64_t i = 0; i < train_.size(); ++i)
      if (multilabel_ || train_.labels[i] >= 0) labelled_.push_back(i);
    if (labelled_.empty()) throw UsageError("train: the training pack has no labelled images");
    if (multilabel_) {
      finding_w_ = finding_weights(cfg_.class_weights, train_.targets);
    } else {
      class_w_ = torch::tensor(class_weights(cfg_.class_weights, train_, labelled_));
      labels_ = torch::tensor(train_.labels);
    }
  }

  // One pass over this rank's share of the epoch's order, augmented from (seed, epoch, position).
  EpochStats run_epoch(int epoch) {
    EpochStats s;
    s.lr = lr_at(cfg_, epoch);
    for (size_t g = 0; g < opt_->param_groups().size(); ++g)
      static_cast<torch::optim::AdamOptions&>(opt_->param_groups()[g].options()).lr(s.lr * group_scale_.at(g));
    const auto order = cfg_.sampler == Sampler::kSource
                           ? source_balanced_order(labelled_, train_.sources, cfg_.seed, epoch)
                           : epoch_order(labelled_, cfg_.seed, epoch);
    auto gen = at::detail::createCPUGenerator(cfg_.seed * 1000003ull + static_cast<uint64_t>(epoch));
    // Positions in `order` this process trains on (all of them, or its rank's shard); position
    // p is sample order[p % n] and is augmented with draws[p], whatever the batch or the rank.
    std::vector<int64_t> pos = dist_ ? dist_->shard(static_cast<int64_t>(order.size())) : std::vector<int64_t>();
    if (!dist_)
      for (size_t p = 0; p < order.size(); ++p) pos.push_back(static_cast<int64_t>(p));
    const int64_t positions = pos.empty() ? 0 : static_cast<int64_t>(pos.size()) * (dist_ ? dist_->world_size() : 1);
    const torch::Tensor draws = cfg_.augment ? stage2_.draw(positions, &gen) : torch::Tensor();
    net_->train();
    apply_bn_mode(*net_, cfg_.bn);
    const auto t0 = std::chrono::steady_clock::now();
    double loss_sum = 0;
    report_->epoch_begin(epoch + 1, cfg_.epochs, static_cast<int64_t>(pos.size()));
    for (size_t i = 0; i < pos.size(); i += cfg_.batch_size) {
      const size_t b = std::min<size_t>(cfg_.batch_size, pos.size() - i);
      if (b < 2 && pos.size() > 1) break;  // a batch of one breaks batch norm statistics
      const std::vector<int64_t> at(pos.begin() + i, pos.begin() + i + b);
      std::vector<int64_t> ids(b);
      for (size_t j = 0; j < b; ++j) ids[j] = order[at[j] % order.size()];
      const double loss =
          train_step(torch::tensor(ids), cfg_.augment ? draws.index_select(0, torch::tensor(at)) : torch::Tensor());
      loss_sum += loss * b;
      s.images += b;
      report_->batch_end(b, loss_sum / s.images);
    }
    s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (dist_) {  // the job's totals; rank 0's running statistics everywhere (bn local)
      const auto tot = dist_->sum({loss_sum, static_cast<double>(s.images)});
      loss_sum = tot[0];
      s.images = static_cast<int64_t>(tot[1]);
      dist_->sync_buffers(*net_);
    }
    s.loss = s.images ? loss_sum / s.images : 0.0;
    return s;
  }

  // Forward, weighted BCE on one-hot (or multi-label) targets, backward, Adam; the batch's loss.
  double train_step(const torch::Tensor& idx, const torch::Tensor& draws) {
    auto images = train_.images.index_select(0, idx).to(device_);
    auto x = draws.defined() ? stage2_.augmented(images, draws) : stage2_(images, false);
    x = x.contiguous(torch::MemoryFormat::ChannelsLast);  // oneDNN and cuDNN (AMP) are faster NHWC
    torch::Tensor target, w;
    if (multilabel_) {
      target = train_.targets.index_select(0, idx);
      w = (finding_w_[0] * (1 - target) + finding_w_[1] * target).to(device_);
      target = target.to(device_);
    } else {
      auto y = labels_.index_select(0, idx);
      target = torch::one_hot(y, cfg_.model.num_classes).to(torch::kFloat32).to(device_);
      w = class_w_.index_select(0, y).unsqueeze(1).expand_as(target).to(device_);
    }
    torch::Tensor loss;
    {
      compat::AutocastGuard autocast(device_.type(), cfg_.amp != Amp::kNone,
                                     cfg_.amp == Amp::kFp16 ? torch::kHalf : torch::kBFloat16);
      loss = torch::binary_cross_entropy_with_logits(net_->forward(x).to(torch::kFloat32), target, w);
    }
    opt_->zero_grad();
    loss.backward();
    if (dist_) dist_->average_gradients();
    opt_->step();
    return loss.item<double>();
  }

  // Validation metrics and threshold; whether this epoch is the best so far (rank 0 decides).
  bool validate(int epoch, const EpochStats& s) {
    nlohmann::json line = {{"epoch", epoch + 1},
                           {"loss", s.loss},
                           {"lr", s.lr},
                           {"seconds", s.seconds},
                           {"images_per_s", s.images / s.seconds},
                           {"time", utc_now()}};
    result_.images_per_s = s.images / s.seconds;
    bool improved = !in_.val;
    if (in_.val) {
      InferenceOptions io;
      io.batch_size = std::max(cfg_.batch_size, 16);
      io.device = device_.is_cuda() ? DeviceKind::kCuda : DeviceKind::kCpu;
      torch::Tensor probs = predict_probs(*net_, stage2_, in_.val->images, io);
      ValidationSummary v = multilabel_
                                ? summarize_multilabel(probs, in_.val->targets, train_.classes)
                                : summarize_validation(probs, in_.val->labels, train_.classes, cfg_.threshold_rule);
      line["val"] = v.metrics;
      if (v.auc > result_.best_val_auc) {
        improved = true;
        result_.best_val_auc = v.auc;
        ck_.threshold = v.threshold;
        ck_.threshold_rule = v.threshold_rule;
        ck_.metrics = v.metrics;
      }
      net_->to(device_);
    }
    if (dist_) improved = dist_->sum({dist_->rank() == 0 && improved ? 1.0 : 0.0})[0] > 0;
    if (improved) {
      result_.best_epoch = epoch + 1;
      stale_ = 0;
    } else {
      ++stale_;
    }
    history_.push_back(line);
    if (writer_) log_ << line.dump() << "\n" << std::flush;
    report_->epoch_end(line);
    return improved;
  }

  // last.ckpt (with optimizer state, what --resume reads) and, when improved, best.ckpt; atomic.
  void save_checkpoints(int epoch, bool improved) {
    ck_.training = {
        {"config", cfg_},
        {"seed", cfg_.seed},
        {"epoch", epoch},
        {"epochs", cfg_.epochs},
        {"train_data", {{"source", in_.train_source}, {"hash", train_.content_hash()}, {"n", train_.size()}}},
        {"covscreen_version", COVSCREEN_VERSION},
        {"task", multilabel_ ? "multi-label" : "single-label"},
        {"saved", utc_now()}};
    for (const auto& [key, value] : build_record_.items()) ck_.training[key] = value;
    if (in_.val)
      ck_.training["val_data"] = {
          {"source", in_.val_source}, {"hash", in_.val->content_hash()}, {"n", in_.val->size()}};
    ck_.extra = {{"best_val_auc", result_.best_val_auc},
                 {"best_epoch", result_.best_epoch},
                 {"stale_epochs", stale_},
                 {"history", history_}};
    if (!writer_) return;
    ck_.optimizer_state = serialize_optimizer(*opt_);
    if (improved) {
      Checkpoint best = ck_;
      best.optimizer_state.clear();
      save_checkpoint(best_path_, best);
    }
    save_checkpoint(last_path_, ck_);
  }

  // The best model's typicality reference (models/typicality.h) from its training images, added to
  // best.ckpt: screening flags images unlike them. Too few images: said, and the checkpoint stays.
  void add_typicality() {
    if (!writer_ || !fs::exists(best_path_)) return;
    Checkpoint best = load_checkpoint(best_path_);
    InferenceOptions io;
    io.device = cfg_.device;
    try {
      best.typicality = fit_typicality(*best.net, stage2_, train_.images, io, TypicalityOptions{});
    } catch (const UsageError& e) {
      report_->note(std::string("no typicality reference: ") + e.what());
      return;
    }
    best.typicality.info["data"] = {{"source", in_.train_source}, {"hash", train_.content_hash()}};
    save_checkpoint(best_path_, best);
    report_->note("typicality reference of " + std::to_string(train_.size()) + " training images added to " +
                  best_path_);
  }

  bool early_stop() {
    if (cfg_.early_stopping_patience == 0 || stale_ < cfg_.early_stopping_patience) return false;
    report_->note("early stopping: no validation AUC gain in " + std::to_string(stale_) + " epochs");
    return true;
  }

  TrainConfig cfg_;
  const TrainInputs& in_;
  const Pack& train_;
  TrainDistributed* dist_;
  const bool writer_;  // only rank 0 writes files and reports
  const std::string out_dir_, last_path_, best_path_, log_path_;
  std::unique_ptr<TrainReporter> owned_reporter_;
  TrainReporter* report_ = nullptr;
  bool multilabel_ = false;
  torch::Device device_;
  Stage2 stage2_;
  ScreenModel net_;
  nlohmann::json build_record_;
  std::unique_ptr<torch::optim::Adam> opt_;
  std::vector<double> group_scale_;  // per param group of opt_: its lr / cfg_.lr
  Checkpoint ck_;
  std::ofstream log_;
  std::vector<int64_t> labelled_;
  torch::Tensor class_w_, finding_w_, labels_;
  int start_epoch_ = 0, stale_ = 0;
  nlohmann::json history_ = nlohmann::json::array();
  TrainResult result_;
};

}  // namespace

std::unique_ptr<TrainReporter> console_reporter() { return std::make_unique<ConsoleReporter>(); }

TrainResult train_model(const TrainConfig& cfg, const TrainInputs& in, const std::string& out_dir, bool resume) {
  if (!in.train) throw UsageError("train: no training pack");
  return Trainer(cfg, in, out_dir).run(resume);
}

}  // namespace covscreen
