#pragma once
// Training a screening model on packs: the paper's recipe by default (train_config.h).
// Writes into out_dir:
//   config.json   the full resolved config (seed included)
//   log.jsonl     one JSON line per epoch: epoch, loss, lr, seconds, images_per_s, val metrics
//   last.ckpt     after every epoch, with optimizer state (what --resume reads)
//   best.ckpt     the best so far by validation AUC (or the last, without validation)
// Reproducibility: weights are initialised from the seed; each epoch's shuffle and augmentation
// draws are seeded from (seed, epoch), so a run resumed at an epoch boundary ends with the
// same weights as an uninterrupted one on the CPU. Augmentation draws are indexed by a sample's
// position in the epoch's order, so they do not depend on the batch size or the rank.
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "covscreen/data/pack.h"
#include "covscreen/train/distributed.h"
#include "covscreen/train/train_config.h"

namespace covscreen {

struct TrainResult {
  int epochs_run = 0;
  int best_epoch = -1;
  double best_val_auc = -1;
  std::string best_checkpoint, last_checkpoint;
  double images_per_s = 0;
};

// Where training says how it is going: one reporter, called by the writing rank only.
class TrainReporter {
 public:
  virtual ~TrainReporter() = default;
  virtual void note(const std::string& text) = 0;                       // resume, early stop, ...
  virtual void epoch_begin(int epoch, int epochs, int64_t images) = 0;  // epoch counts from 1
  virtual void batch_end(int64_t images, double mean_loss) = 0;         // images in this batch
  virtual void epoch_end(const nlohmann::json& line) = 0;               // the log.jsonl line
};
// A progress bar (core/progress.h) and one line per epoch on stderr.
std::unique_ptr<TrainReporter> console_reporter();

struct TrainInputs {
  const Pack* train = nullptr;
  const Pack* val = nullptr;             // optional
  std::string train_source, val_source;  // descriptions recorded in checkpoints
  // Optional: this process is one rank of a data-parallel job (train/distributed.h). Then
  // cfg.batch_size is per rank, each rank trains on its shard, gradients are averaged, only
  // rank 0 writes into out_dir, and resume reads out_dir/last.ckpt on every rank.
  TrainDistributed* dist = nullptr;
  TrainReporter* reporter = nullptr;  // null: console_reporter()
};

TrainResult train_model(const TrainConfig& cfg, const TrainInputs& in, const std::string& out_dir, bool resume);

}  // namespace covscreen
