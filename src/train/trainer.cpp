#include "covscreen/train/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <torch/torch.h>

#include "covscreen/core/compat.h"
#include "covscreen/core/container.h"
#include "covscreen/core/error.h"
#include "covscreen/core/progress.h"
#include "covscreen/data/stage2.h"
#include "covscreen/models/checkpoint.h"
#include "covscreen/models/cxr_parts.h"
#include "covscreen/models/deep_cxr_net.h"
#include "covscreen/train/inference.h"
#include "covscreen/train/validation.h"

namespace covscreen {
namespace fs = std::filesystem;

namespace {

// Deterministic Fisher-Yates from (seed, epoch), identical on every standard library.
std::vector<int64_t> epoch_order(const std::vector<int64_t>& items, uint64_t seed, int epoch) {
  std::vector<int64_t> v = items;
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(epoch) + 1);
  for (size_t i = v.size(); i > 1; --i) {
    const size_t j = static_cast<size_t>(rng() % i);
    std::swap(v[i - 1], v[j]);
  }
  return v;
}

double lr_at(const TrainConfig& c, int epoch) {
  double lr = c.lr;
  if (c.lr_schedule == "cosine") {
    const int span = std::max(1, c.epochs - c.warmup_epochs);
    const double t = std::max(0, epoch - c.warmup_epochs) / static_cast<double>(span);
    lr = c.lr * 0.5 * (1.0 + std::cos(M_PI * t));
  } else if (c.lr_schedule == "step") {
    lr = c.lr * std::pow(c.lr_gamma, epoch / std::max(1, c.lr_step_epochs));
  }
  if (epoch < c.warmup_epochs) lr = c.lr * (0.1 + 0.9 * epoch / static_cast<double>(c.warmup_epochs));
  return lr;
}

// Per-class loss weights: inverse frequency, normalised to mean 1 over samples.
std::vector<double> class_weights(const TrainConfig& c, const Pack& p, const std::vector<int64_t>& idx) {
  const size_t k = p.classes.size();
  std::vector<double> w(k, 1.0);
  if (c.class_weights != "balanced") return w;
  std::vector<double> count(k, 0.0);
  for (int64_t i : idx) count[p.labels[i]] += 1;
  for (size_t j = 0; j < k; ++j) w[j] = count[j] > 0 ? idx.size() / (k * count[j]) : 0.0;
  return w;
}

// Multi-label "balanced": per finding, positives and negatives weigh half each (w = n / (2 count));
// [2, K]: row 0 the weight of a negative, row 1 of a positive. All ones otherwise.
torch::Tensor finding_weights(const TrainConfig& c, const torch::Tensor& targets) {
  const int64_t n = targets.size(0);
  auto w = torch::ones({2, targets.size(1)});
  if (c.class_weights != "balanced") return w;
  const auto pos = (targets >= 0.5).to(torch::kFloat32).sum(0);
  w[1] = torch::where(pos > 0, n / (2 * pos), torch::zeros_like(pos));
  w[0] = torch::where(pos < n, n / (2 * (n - pos)), torch::zeros_like(pos));
  return w;
}

// Frozen batch norm: BN layers in eval mode (running statistics, not updated) while training.
void apply_bn_mode(torch::nn::Module& net, const std::string& bn) {
  if (bn != "frozen") return;
  for (auto& m : net.modules(/*include_self=*/false))
    if (m->as<torch::nn::BatchNorm1dImpl>() || m->as<torch::nn::BatchNorm2dImpl>() || m->as<torch::nn::BatchNorm3dImpl>())
      m->eval();
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
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

}  // namespace

TrainResult train_model(const TrainConfig& cfg_in, const TrainInputs& in, const std::string& out_dir, bool resume) {
  if (!in.train || in.train->size() == 0) throw UsageError("train: the training pack is empty");
  const Pack& train = *in.train;
  TrainConfig cfg = cfg_in;
  cfg.model.num_classes = static_cast<int>(train.classes.size());
  cfg.model.input_size = static_cast<int>(train.images.size(1));
  cfg.spec.stage1 = train.spec.stage1;
  cfg.validate();
  const bool multilabel = train.multilabel();
  if (!multilabel && train.classes.size() < 2)
    throw UsageError("train: need at least 2 classes, the pack has " + std::to_string(train.classes.size()));
  if (in.val && (in.val->classes != train.classes || in.val->multilabel() != multilabel))
    throw UsageError("train: validation pack classes differ from the training pack's");
  if (multilabel && cfg.model.arch == "deep-cxr-net")
    throw UsageError("train: deep-cxr-net is a COVID classifier; a multi-label pack trains its part 1 (densenet121)");
  if (cfg.threads > 0) torch::set_num_threads(cfg.threads);

  TrainDistributed* dist = in.dist;
  const bool writer = !dist || dist->rank() == 0;  // only rank 0 writes files
  const bool out_dir_existed = fs::is_directory(out_dir);
  if (writer) fs::create_directories(out_dir);
  const std::string last_path = (fs::path(out_dir) / "last.ckpt").string();
  const std::string best_path = (fs::path(out_dir) / "best.ckpt").string();
  const std::string log_path = (fs::path(out_dir) / "log.jsonl").string();

  const torch::Device device = dist ? dist->place(resolve_device(cfg.device)) : resolve_device(cfg.device);
  const bool cxr = cfg.model.arch == "deep-cxr-net";
  CxrPart part1, part2;
  if (cxr) {  // the frozen parts decide the rest of the architecture
    if (cfg.part1.empty() || cfg.part2.empty())
      throw UsageError("train: deep-cxr-net needs its two frozen parts (--part1 findings model, --part2 pneumonia model)");
    part1 = read_cxr_part(cfg.part1, cfg.model.input_size);
    part2 = read_cxr_part(cfg.part2, cfg.model.input_size);
    cfg.model.cxr = cxr_settings(part1, resolve_select(part1, cfg.part1_select), part2, train.classes, cfg.spec);
  }
  torch::manual_seed(cfg.seed);
  ScreenModel net = make_model(cfg.model);
  nlohmann::json parts_record;
  if (cxr) parts_record = attach_cxr_parts(static_cast<DeepCXRNetImpl&>(*net), part1, part2);
  net->to(device);
  to_channels_last(*net);  // NHWC weights for the NHWC inputs below (oneDNN, cuDNN with AMP)
  std::vector<torch::Tensor> trainable;  // deep-cxr-net's frozen parts stay out of the optimizer
  for (const auto& p : net->parameters())
    if (p.requires_grad()) trainable.push_back(p);
  torch::optim::Adam opt(trainable, torch::optim::AdamOptions(cfg.lr).weight_decay(cfg.weight_decay));

  Checkpoint ck;
  ck.model = cfg.model;
  ck.classes = train.classes;
  ck.spec = cfg.spec;
  ck.net = net;

  int start_epoch = 0;
  TrainResult result;
  nlohmann::json history = nlohmann::json::array();
  int stale = 0;
  if (writer) remove_stale_temporaries(out_dir);
  if (resume && !fs::exists(last_path)) {
    // A run killed before its first checkpoint: out_dir exists but holds nothing to resume.
    if (!out_dir_existed) throw UsageError("--resume: no " + last_path + " to resume from");
    if (writer) std::cerr << "--resume: no " << last_path << " yet; starting " << out_dir << " from epoch 1\n";
    resume = false;
  }
  if (resume) {
    Checkpoint prev = load_checkpoint(last_path);
    if (prev.model.arch != cfg.model.arch || prev.classes != train.classes)
      throw FileError(last_path, "was written by a run with another architecture or class list");
    torch::NoGradGuard ng;
    auto src = prev.net->named_parameters(true);
    for (auto& p : net->named_parameters(true)) p.value().copy_(src[p.key()]);
    auto srcb = prev.net->named_buffers(true);
    for (auto& b : net->named_buffers(true)) b.value().copy_(srcb[b.key()]);
    restore_optimizer(opt, prev.optimizer_state, last_path);
    start_epoch = prev.training.value("epoch", -1) + 1;
    result.best_val_auc = prev.extra.value("best_val_auc", -1.0);
    result.best_epoch = prev.extra.value("best_epoch", -1);
    stale = prev.extra.value("stale_epochs", 0);
    history = prev.extra.value("history", nlohmann::json::array());
    ck.threshold = prev.threshold;
    ck.threshold_rule = prev.threshold_rule;
    ck.metrics = prev.metrics;
    result.epochs_run = start_epoch;  // already complete when the kill came after the last epoch
    // The log as of last.ckpt: drops lines of an epoch that ran after it, and a half-written line.
    if (writer && !history.empty()) {
      std::string lines;
      for (const auto& h : history) lines += h.dump() + "\n";
      write_file_atomic(log_path, lines);
    }
    if (writer) std::cerr << "resuming " << out_dir << " at epoch " << start_epoch + 1 << "/" << cfg.epochs << "\n";
  }
  if (dist) dist->setup(*net);  // parameters from rank 0; gradient hooks
  if (writer) write_file_atomic((fs::path(out_dir) / "config.json").string(), nlohmann::json(cfg).dump(2) + "\n");

  std::vector<int64_t> labelled;
  for (int64_t i = 0; i < train.size(); ++i)
    if (multilabel || train.labels[i] >= 0) labelled.push_back(i);
  if (labelled.empty()) throw UsageError("train: the training pack has no labelled images");
  const std::vector<double> cw = multilabel ? std::vector<double>() : class_weights(cfg, train, labelled);
  const auto cw_t = torch::tensor(std::vector<float>(cw.begin(), cw.end()));
  const auto fw_t = multilabel ? finding_weights(cfg, train.targets) : torch::Tensor();
  const auto labels_t = torch::tensor(train.labels);

  Stage2 stage2(cfg.spec.stage2);
  const bool use_amp = cfg.amp != "none";
  const auto amp_dtype = cfg.amp == "fp16" ? torch::kHalf : torch::kBFloat16;
  if (cfg.amp == "fp16" && !device.is_cuda()) throw UsageError("train: amp fp16 needs CUDA (use bf16 on the CPU)");

  std::ofstream log;
  if (writer) {
    log.open(log_path, resume ? std::ios::app : std::ios::trunc);
    if (!log) throw FileError(log_path, "cannot open for writing");
  }

  for (int epoch = start_epoch; epoch < cfg.epochs; ++epoch) {
    const double lr = lr_at(cfg, epoch);
    for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamOptions&>(g.options()).lr(lr);
    const auto order = epoch_order(labelled, cfg.seed, epoch);
    auto gen = at::detail::createCPUGenerator(cfg.seed * 1000003ull + static_cast<uint64_t>(epoch));
    // Positions in `order` this process trains on (all of them, or its rank's shard); position
    // p is sample order[p % n] and is augmented with draws[p], whatever the batch or the rank.
    std::vector<int64_t> pos = dist ? dist->shard(static_cast<int64_t>(order.size())) : std::vector<int64_t>();
    if (!dist)
      for (size_t p = 0; p < order.size(); ++p) pos.push_back(static_cast<int64_t>(p));
    const int64_t positions = pos.empty() ? 0 : static_cast<int64_t>(pos.size()) * (dist ? dist->world_size() : 1);
    const torch::Tensor draws = cfg.augment ? Stage2::draw(positions, &gen) : torch::Tensor();
    net->train();
    apply_bn_mode(*net, cfg.bn);
    const auto t0 = std::chrono::steady_clock::now();
    double loss_sum = 0;
    int64_t seen = 0;
    Progress bar("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(cfg.epochs), pos.size());
    for (size_t i = 0; i < pos.size(); i += cfg.batch_size) {
      const size_t b = std::min<size_t>(cfg.batch_size, pos.size() - i);
      if (b < 2 && pos.size() > 1) break;  // a batch of one breaks batch norm statistics
      std::vector<int64_t> ids(b);
      for (size_t j = 0; j < b; ++j) ids[j] = order[pos[i + j] % order.size()];
      auto idx = torch::tensor(ids);
      auto images = train.images.index_select(0, idx).to(device);
      auto x = cfg.augment ? stage2.augmented(images, draws.index_select(0, torch::tensor(std::vector<int64_t>(
                                                              pos.begin() + i, pos.begin() + i + b))))
                           : stage2(images, false);
      x = x.contiguous(torch::MemoryFormat::ChannelsLast);  // oneDNN and cuDNN (AMP) are faster NHWC
      torch::Tensor target, w;
      if (multilabel) {
        target = train.targets.index_select(0, idx);
        w = (fw_t[0] * (1 - target) + fw_t[1] * target).to(device);
        target = target.to(device);
      } else {
        auto y = labels_t.index_select(0, idx);
        target = torch::one_hot(y, cfg.model.num_classes).to(torch::kFloat32).to(device);
        w = cw_t.index_select(0, y).unsqueeze(1).expand_as(target).to(device);
      }
      torch::Tensor loss;
      {
        compat::AutocastGuard autocast(device.type(), use_amp, amp_dtype);
        auto logits = net->forward(x);
        loss = torch::binary_cross_entropy_with_logits(logits.to(torch::kFloat32), target, w);
      }
      opt.zero_grad();
      loss.backward();
      if (dist) dist->average_gradients();
      opt.step();
      loss_sum += loss.item<double>() * b;
      seen += b;
      std::ostringstream sfx;
      sfx.precision(4);
      sfx << "loss " << loss_sum / seen;
      bar.advance(b, sfx.str());
    }
    bar.finish();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (dist) {  // the job's totals; rank 0's running statistics everywhere (bn local)
      const auto tot = dist->sum({loss_sum, static_cast<double>(seen)});
      loss_sum = tot[0];
      seen = static_cast<int64_t>(tot[1]);
      dist->sync_buffers(*net);
    }
    nlohmann::json line = {{"epoch", epoch + 1}, {"loss", seen ? loss_sum / seen : 0.0}, {"lr", lr},
                           {"seconds", secs},    {"images_per_s", seen / secs}, {"time", utc_now()}};
    result.images_per_s = seen / secs;

    bool improved = !in.val;
    if (in.val) {
      InferenceOptions io;
      io.batch_size = std::max(cfg.batch_size, 16);
      io.device = device.is_cuda() ? "cuda" : "cpu";
      torch::Tensor probs = predict_probs(*net, stage2, in.val->images, io);
      ValidationSummary v = multilabel ? summarize_multilabel(probs, in.val->targets, train.classes)
                                       : summarize_validation(probs, in.val->labels, train.classes, cfg.threshold_rule);
      line["val"] = v.metrics;
      if (v.auc > result.best_val_auc) {
        improved = true;
        result.best_val_auc = v.auc;
        ck.threshold = v.threshold;
        ck.threshold_rule = v.threshold_rule;
        ck.metrics = v.metrics;
      }
      net->to(device);
    }
    if (dist) improved = dist->sum({dist->rank() == 0 && improved ? 1.0 : 0.0})[0] > 0;  // rank 0 decides
    if (improved) {
      result.best_epoch = epoch + 1;
      stale = 0;
    } else {
      ++stale;
    }
    history.push_back(line);
    if (writer) {
      log << line.dump() << "\n" << std::flush;
      std::cerr << line.dump() << "\n";
    }

    ck.training = {{"config", cfg},
                   {"seed", cfg.seed},
                   {"epoch", epoch},
                   {"epochs", cfg.epochs},
                   {"train_data", {{"source", in.train_source}, {"hash", train.content_hash()}, {"n", train.size()}}},
                   {"covscreen_version", COVSCREEN_VERSION},
                   {"task", multilabel ? "multi-label" : "single-label"},
                   {"saved", utc_now()}};
    if (cxr) ck.training["parts"] = parts_record;
    if (in.val)
      ck.training["val_data"] = {{"source", in.val_source}, {"hash", in.val->content_hash()}, {"n", in.val->size()}};
    ck.extra = {{"best_val_auc", result.best_val_auc},
                {"best_epoch", result.best_epoch},
                {"stale_epochs", stale},
                {"history", history}};
    if (writer) {
      ck.optimizer_state = serialize_optimizer(opt);
      if (improved) {
        Checkpoint best = ck;
        best.optimizer_state.clear();
        save_checkpoint(best_path, best);
      }
      save_checkpoint(last_path, ck);  // last: what --resume reads
    }
    result.epochs_run = epoch + 1;
    if (cfg.early_stopping_patience > 0 && stale >= cfg.early_stopping_patience) {
      std::cerr << "early stopping: no validation AUC gain in " << stale << " epochs\n";
      break;
    }
  }
  if (dist) dist->barrier();  // the job ends when rank 0 has written its checkpoints
  result.best_checkpoint = best_path;
  result.last_checkpoint = last_path;
  return result;
}

}  // namespace covscreen
