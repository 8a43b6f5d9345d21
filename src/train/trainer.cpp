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
  if (train.classes.size() < 2) throw UsageError("train: need at least 2 classes, the pack has " +
                                                 std::to_string(train.classes.size()));
  if (in.val && in.val->classes != train.classes)
    throw UsageError("train: validation pack classes differ from the training pack's");
  if (cfg.threads > 0) torch::set_num_threads(cfg.threads);

  TrainDistributed* dist = in.dist;
  const bool writer = !dist || dist->rank() == 0;  // only rank 0 writes files
  if (writer) fs::create_directories(out_dir);
  const std::string last_path = (fs::path(out_dir) / "last.ckpt").string();
  const std::string best_path = (fs::path(out_dir) / "best.ckpt").string();
  const std::string log_path = (fs::path(out_dir) / "log.jsonl").string();

  const torch::Device device = dist ? dist->place(resolve_device(cfg.device)) : resolve_device(cfg.device);
  torch::manual_seed(cfg.seed);
  ScreenModel net = make_model(cfg.model);
  net->to(device);
  to_channels_last(*net);  // NHWC weights for the NHWC inputs below (oneDNN, cuDNN with AMP)
  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(cfg.lr).weight_decay(cfg.weight_decay));

  Checkpoint ck;
  ck.model = cfg.model;
  ck.classes = train.classes;
  ck.spec = cfg.spec;
  ck.net = net;

  int start_epoch = 0;
  TrainResult result;
  nlohmann::json history = nlohmann::json::array();
  int stale = 0;
  if (resume) {
    if (!fs::exists(last_path)) throw UsageError("--resume: no " + last_path + " to resume from");
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
    if (writer) std::cerr << "resuming " << out_dir << " at epoch " << start_epoch + 1 << "/" << cfg.epochs << "\n";
  }
  if (dist) dist->setup(*net);  // parameters from rank 0; gradient hooks
  if (writer) write_file_atomic((fs::path(out_dir) / "config.json").string(), nlohmann::json(cfg).dump(2) + "\n");

  std::vector<int64_t> labelled;
  for (int64_t i = 0; i < train.size(); ++i)
    if (train.labels[i] >= 0) labelled.push_back(i);
  if (labelled.empty()) throw UsageError("train: the training pack has no labelled images");
  const std::vector<double> cw = class_weights(cfg, train, labelled);
  const auto cw_t = torch::tensor(std::vector<float>(cw.begin(), cw.end()));
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
      auto y = labels_t.index_select(0, idx);
      auto target = torch::one_hot(y, cfg.model.num_classes).to(torch::kFloat32).to(device);
      auto w = cw_t.index_select(0, y).unsqueeze(1).expand_as(target).to(device);
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
      ValidationSummary v = summarize_validation(probs, in.val->labels, train.classes, cfg.threshold_rule);
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
                   {"saved", utc_now()}};
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
