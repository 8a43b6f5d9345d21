#pragma once
// What the trainer asks of a data-parallel job when this process is one rank of it. The
// implementation lives in covscreen_dist (PyTorch's c10d: TCPStore + ProcessGroupGloo/NCCL);
// src/train knows nothing of c10d. Without one (TrainInputs::dist == nullptr) training is the
// plain single-process loop.
//
// Semantics the trainer relies on:
//   - batch_size in the config is per rank; the global batch is batch_size * world_size;
//   - every rank trains on shard(n) of the epoch's global order (same count on every rank);
//   - after average_gradients() every rank holds the mean of all ranks' gradients, so the
//     identical optimizer steps keep the replicas identical;
//   - only rank 0 writes files (config, log, checkpoints).
#include <torch/nn/module.h>
#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace covscreen {

class TrainDistributed {
 public:
  virtual ~TrainDistributed() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // The device this rank trains on, given the one the config resolves to (cuda -> cuda:LOCAL_RANK).
  virtual torch::Device place(const torch::Device& resolved) const = 0;
  // Positions into an epoch's global order of n samples that this rank trains on, in order;
  // padded by wrapping around so every rank gets the same count. Position p is sample
  // order[p % n]; per-sample randomness (augmentation) is indexed by p, never by the rank.
  virtual std::vector<int64_t> shard(int64_t n) const = 0;
  // Once, with the model built (or resumed) on its device: parameters and buffers are
  // broadcast from rank 0 and gradient averaging is prepared (hooks, buckets).
  virtual void setup(torch::nn::Module& net) = 0;
  // After loss.backward(): every rank ends holding the mean gradient over ranks.
  virtual void average_gradients() = 0;
  // Element-wise sum over ranks.
  virtual std::vector<double> sum(const std::vector<double>& values) = 0;
  // Buffers (batch-norm running statistics) from rank 0 to every rank.
  virtual void sync_buffers(torch::nn::Module& net) = 0;
  virtual void barrier() = 0;
};

}  // namespace covscreen
