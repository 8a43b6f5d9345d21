#pragma once
// One rank of a data-parallel training job: joins the job (TCPStore + process group), then
// serves the trainer's TrainDistributed hooks: sharding, parameter broadcast from rank 0,
// bucketed gradient all-reduce (grad_reducer.h), buffer sync, sums for logging. Every
// blocking collective runs under the watchdog; a failed collective throws an Error that says
// which rank, which operation and why (a dead peer, the timeout).
#include <memory>

#include "covscreen/dist/grad_reducer.h"
#include "covscreen/dist/process_group.h"
#include "covscreen/dist/rendezvous.h"
#include "covscreen/dist/watchdog.h"
#include "covscreen/train/distributed.h"

namespace covscreen::dist {

struct DistOptions {
  Rendezvous rendezvous;
  ProcessGroupOptions group;
  ReducerOptions reducer;
  Watchdog::Handler on_hang;  // default: print the message, exit status 1
};

class DistributedContext : public TrainDistributed {
 public:
  explicit DistributedContext(const DistOptions& opt);  // blocks until every rank joined
  ~DistributedContext() override;

  int rank() const override { return opt_.rendezvous.rank; }
  int world_size() const override { return opt_.rendezvous.world_size; }
  const std::string& backend() const { return pg_.backend; }
  torch::Device place(const torch::Device& resolved) const override;
  std::vector<int64_t> shard(int64_t n) const override;
  void setup(torch::nn::Module& net) override;
  void average_gradients() override;
  std::vector<double> sum(const std::vector<double>& values) override;
  void sync_buffers(torch::nn::Module& net) override;
  void barrier() override;
  const GradReducer* reducer() const { return reducer_.get(); }

 private:
  template <class F>
  void collective(const char* what, F&& f);
  DistOptions opt_;
  std::unique_ptr<Watchdog> watchdog_;
  ProcessGroup pg_;
  std::unique_ptr<GradReducer> reducer_;
  torch::Device comm_device_{torch::kCPU};
};

}  // namespace covscreen::dist
