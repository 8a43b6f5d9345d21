#pragma once
// Gradient averaging for data-parallel training: parameters are grouped, in reverse
// registration order (roughly the order backward produces their gradients), into buckets of
// about `bucket_bytes`; each bucket is one flat tensor all-reduced in one collective, then
// divided by the world size and copied back into the parameters' .grad.
//
// Overlap: with overlap=true a gradient hook (Tensor::register_hook) on every parameter copies
// its gradient into its bucket as autograd produces it, and a bucket's all-reduce is launched
// (asynchronously) as soon as all its gradients are in, while backward goes on with earlier
// layers. Buckets launch strictly in bucket order, so every rank issues the same collectives in
// the same order. finish() (after backward) launches the buckets whose parameters got no
// gradient this step (zeros), waits, and writes the means into .grad. With overlap=false,
// finish() does all of it after backward.
//
// One backward per finish(): a parameter whose gradient arrives twice before finish() (gradient
// accumulation over several backward calls) is an Error.
#include <torch/types.h>

#include <memory>
#include <mutex>
#include <vector>

#include "covscreen/dist/c10d_compat.h"

namespace covscreen::dist {

struct ReducerOptions {
  size_t bucket_bytes = 25u << 20;  // PyTorch DDP's default bucket_cap_mb = 25
  bool overlap = true;
};

class GradReducer {
 public:
  GradReducer(compat::CommPtr comm, int world_size, std::vector<torch::Tensor> params, const ReducerOptions& opt);
  ~GradReducer();
  GradReducer(const GradReducer&) = delete;
  GradReducer& operator=(const GradReducer&) = delete;

  void finish();  // after loss.backward(): every parameter's .grad = mean over ranks
  size_t buckets() const { return buckets_.size(); }
  bool overlap() const { return opt_.overlap; }

 private:
  struct Bucket {
    torch::Tensor flat;
    std::vector<size_t> params;    // indices into params_
    std::vector<int64_t> offsets;  // element offset of each in flat
    size_t pending = 0;            // gradients not yet copied in this step
    compat::WorkPtr work;
  };
  void on_grad(size_t param, const torch::Tensor& grad);
  void launch_ready_locked();
  void launch(Bucket& b);
  void reset_step();

  compat::CommPtr comm_;
  int world_size_;
  std::vector<torch::Tensor> params_;
  ReducerOptions opt_;
  std::vector<Bucket> buckets_;
  std::vector<size_t> bucket_of_;  // param -> bucket
  std::vector<size_t> slot_of_;    // param -> index within its bucket
  std::vector<char> ready_;        // param got its gradient this step
  std::vector<unsigned> hooks_;
  size_t next_launch_ = 0;  // buckets launch in order: [0, next_launch_) are launched
  std::mutex mu_;
};

// Broadcasts the tensors' values from rank 0 into every rank's tensors (coalesced per dtype
// and device), waiting for completion.
void broadcast_from_rank0(compat::Comm& comm, const std::vector<torch::Tensor>& tensors);

}  // namespace covscreen::dist
