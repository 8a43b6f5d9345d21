#include "covscreen/dist/context.h"

#include <torch/torch.h>

#include "covscreen/core/error.h"
#include "covscreen/core/log.h"
#include "covscreen/dist/sampler.h"

namespace covscreen::dist {

namespace {
std::string who(const Rendezvous& rv) {
  return "distributed: rank " + std::to_string(rv.rank) + "/" + std::to_string(rv.world_size);
}
std::chrono::milliseconds watchdog_limit(std::chrono::milliseconds t) {
  return t + std::max<std::chrono::milliseconds>(std::chrono::seconds(10), t / 2);
}
}  // namespace

DistributedContext::DistributedContext(const DistOptions& opt) : opt_(opt) {
  const auto& rv = opt_.rendezvous;
  rv.validate();
  watchdog_ = std::make_unique<Watchdog>(watchdog_limit(opt_.group.timeout), who(rv), opt_.on_hang);
  {
    Watchdog::Scope s(*watchdog_, "joining the job at " + rv.master_addr + ":" + std::to_string(rv.master_port));
    pg_ = create_process_group(rv, opt_.group);
  }
  if (opt_.group.cuda) comm_device_ = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(rv.local_rank));
  log_info(who(rv) + " joined (" + pg_.backend + ", master " + rv.master_addr + ":" + std::to_string(rv.master_port) +
           ", timeout " + std::to_string(opt_.group.timeout.count() / 1000) + " s)");
}

DistributedContext::~DistributedContext() {
  Watchdog::Scope s(*watchdog_, "shutting down the process group");
  reducer_.reset();
  pg_.comm.reset();
  pg_.store.reset();
}

template <class F>
void DistributedContext::collective(const char* what, F&& f) {
  Watchdog::Scope s(*watchdog_, what);
  try {
    f();
  } catch (const Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Error(who(opt_.rendezvous) + ": " + what + " failed (a peer rank died, hung past the " +
                std::to_string(opt_.group.timeout.count() / 1000) +
                " s timeout, or left the job): " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw Error(who(opt_.rendezvous) + ": " + what + " failed (a peer rank died, hung past the " +
                std::to_string(opt_.group.timeout.count() / 1000) + " s timeout, or left the job): " + e.what());
  }
}

torch::Device DistributedContext::place(const torch::Device& resolved) const {
  if (resolved.is_cuda() != opt_.group.cuda)
    throw UsageError(who(opt_.rendezvous) + ": the job was formed for " + (opt_.group.cuda ? "CUDA" : "CPU") +
                     " tensors but the model is on " + resolved.str());
  return resolved.is_cuda() ? comm_device_ : resolved;
}

std::vector<int64_t> DistributedContext::shard(int64_t n) const { return shard_positions(n, rank(), world_size()); }

void DistributedContext::setup(torch::nn::Module& net) {
  std::vector<torch::Tensor> all, trainable;
  for (auto& p : net.parameters(true)) {
    all.push_back(p);
    if (p.requires_grad()) trainable.push_back(p);
  }
  for (auto& b : net.buffers(true)) all.push_back(b);
  collective("broadcasting the parameters from rank 0", [&] { broadcast_from_rank0(*pg_.comm, all); });
  reducer_ = std::make_unique<GradReducer>(pg_.comm, world_size(), trainable, opt_.reducer);
}

void DistributedContext::average_gradients() {
  if (!reducer_) throw Error(who(opt_.rendezvous) + ": average_gradients() before setup()");
  collective("all-reduce of the gradients", [&] { reducer_->finish(); });
}

std::vector<double> DistributedContext::sum(const std::vector<double>& values) {
  if (values.empty()) return {};
  std::vector<at::Tensor> t{torch::tensor(values, torch::kFloat64).to(comm_device_)};
  collective("all-reduce of the epoch's statistics", [&] { pg_.comm->allreduce(t)->wait(); });
  auto cpu = t[0].to(torch::kCPU).contiguous();
  return std::vector<double>(cpu.data_ptr<double>(), cpu.data_ptr<double>() + cpu.numel());
}

void DistributedContext::sync_buffers(torch::nn::Module& net) {
  std::vector<torch::Tensor> bufs;
  for (auto& b : net.buffers(true)) bufs.push_back(b);
  collective("broadcasting the buffers from rank 0", [&] { broadcast_from_rank0(*pg_.comm, bufs); });
}

void DistributedContext::barrier() {
  collective("barrier", [&] {
    // An all-reduce as barrier: ProcessGroupNCCL's barrier() guesses the device; this does not.
    std::vector<at::Tensor> t{torch::zeros({1}, torch::TensorOptions().device(comm_device_))};
    pg_.comm->allreduce(t)->wait();
  });
}

}  // namespace covscreen::dist
