#pragma once
// The CPUs this process may run on (sched affinity, so containers and taskset are respected).
// LibTorch's own default intra-op thread count is the number of physical cores as cpuinfo sees
// them, which on some virtual machines is 1 for a 2-vCPU guest; covscreen uses this instead.
namespace covscreen {

int usable_cpus();

}  // namespace covscreen
