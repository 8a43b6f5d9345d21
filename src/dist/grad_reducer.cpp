#include "covscreen/dist/grad_reducer.h"

#include <torch/torch.h>

#include <map>
#include <tuple>

#include "covscreen/core/error.h"

namespace covscreen::dist {

GradReducer::GradReducer(compat::CommPtr comm, int world_size, std::vector<torch::Tensor> params,
                         const ReducerOptions& opt)
    : comm_(std::move(comm)), world_size_(world_size), params_(std::move(params)), opt_(opt) {
  const size_t n = params_.size();
  bucket_of_.assign(n, 0);
  slot_of_.assign(n, 0);
  ready_.assign(n, 0);
  // Reverse order; a new bucket when the size cap is reached or dtype/device change.
  std::vector<std::vector<size_t>> groups;
  size_t bytes = 0;
  for (size_t k = n; k-- > 0;) {
    const auto& p = params_[k];
    const bool fits = !groups.empty() && bytes + p.numel() * p.element_size() <= opt_.bucket_bytes &&
                      params_[groups.back().front()].scalar_type() == p.scalar_type() &&
                      params_[groups.back().front()].device() == p.device();
    if (!fits) {
      groups.emplace_back();
      bytes = 0;
    }
    groups.back().push_back(k);
    bytes += p.numel() * p.element_size();
  }
  for (size_t g = 0; g < groups.size(); ++g) {
    Bucket b;
    int64_t off = 0;
    for (size_t i = 0; i < groups[g].size(); ++i) {
      const size_t k = groups[g][i];
      b.params.push_back(k);
      b.offsets.push_back(off);
      bucket_of_[k] = g;
      slot_of_[k] = i;
      off += params_[k].numel();
    }
    const auto& first = params_[groups[g].front()];
    b.flat = torch::zeros({off}, first.options().requires_grad(false));
    b.pending = groups[g].size();
    buckets_.push_back(std::move(b));
  }
  if (opt_.overlap)
    for (size_t k = 0; k < n; ++k)
      hooks_.push_back(params_[k].register_hook([this, k](torch::Tensor g) { on_grad(k, g); }));
}

GradReducer::~GradReducer() {
  if (opt_.overlap)
    for (size_t k = 0; k < hooks_.size(); ++k) {
      try {
        params_[k].remove_hook(hooks_[k]);
      } catch (...) {
      }
    }
  for (auto& b : buckets_)
    if (b.work) {
      try {
        b.work->wait();
      } catch (...) {
      }
    }
}

void GradReducer::on_grad(size_t k, const torch::Tensor& grad) {
  std::lock_guard<std::mutex> lock(mu_);
  if (ready_[k])
    throw Error(
        "distributed: a parameter's gradient arrived twice before the gradients were averaged "
        "(gradient accumulation over several backward passes is not supported)");
  ready_[k] = 1;
  Bucket& b = buckets_[bucket_of_[k]];
  const auto& p = params_[k];
  torch::NoGradGuard ng;
  b.flat.narrow(0, b.offsets[slot_of_[k]], p.numel()).view(p.sizes()).copy_(grad);
  if (--b.pending == 0) launch_ready_locked();
}

void GradReducer::launch_ready_locked() {
  while (next_launch_ < buckets_.size() && buckets_[next_launch_].pending == 0) launch(buckets_[next_launch_++]);
}

void GradReducer::launch(Bucket& b) {
  std::vector<at::Tensor> t{b.flat};
  b.work = comm_->allreduce(t);
}

void GradReducer::finish() {
  torch::NoGradGuard ng;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t k = 0; k < params_.size(); ++k) {
      if (ready_[k]) continue;
      // No hook this step (overlap off, or the parameter took no part in the loss): take
      // .grad as it is (zeros when it has none) so every rank contributes to every bucket.
      Bucket& b = buckets_[bucket_of_[k]];
      auto slot = b.flat.narrow(0, b.offsets[slot_of_[k]], params_[k].numel()).view(params_[k].sizes());
      const auto& g = params_[k].grad();
      if (g.defined() && !opt_.overlap)
        slot.copy_(g);
      else
        slot.zero_();
      ready_[k] = 1;
      --b.pending;
    }
    launch_ready_locked();
  }
  for (auto& b : buckets_) {
    auto work = std::move(b.work);
    b.work.reset();
    work->wait();  // throws on a peer's failure or the backend's timeout
    b.flat.div_(world_size_);
    for (size_t i = 0; i < b.params.size(); ++i) {
      auto& p = params_[b.params[i]];
      auto mean = b.flat.narrow(0, b.offsets[i], p.numel()).view(p.sizes());
      if (p.grad().defined())
        p.mutable_grad().copy_(mean);
      else
        p.mutable_grad() = mean.clone();
    }
  }
  reset_step();
}

void GradReducer::reset_step() {
  std::lock_guard<std::mutex> lock(mu_);
  std::fill(ready_.begin(), ready_.end(), 0);
  for (auto& b : buckets_) b.pending = b.params.size();
  next_launch_ = 0;
}

void broadcast_from_rank0(compat::Comm& comm, const std::vector<torch::Tensor>& tensors) {
  torch::NoGradGuard ng;
  std::map<std::tuple<int, int, int>, std::vector<torch::Tensor>> groups;  // dtype, device type, index
  for (const auto& t : tensors)
    if (t.defined() && t.numel() > 0)
      groups[{static_cast<int>(t.scalar_type()), static_cast<int>(t.device().type()), t.device().index()}].push_back(t);
  for (auto& [key, ts] : groups) {
    std::vector<torch::Tensor> flat_parts;
    for (const auto& t : ts) flat_parts.push_back(t.reshape({-1}));
    std::vector<at::Tensor> flat{torch::cat(flat_parts)};
    comm.broadcast(flat)->wait();
    int64_t off = 0;
    for (auto& t : ts) {
      t.copy_(flat[0].narrow(0, off, t.numel()).view(t.sizes()));
      off += t.numel();
    }
  }
}

}  // namespace covscreen::dist
