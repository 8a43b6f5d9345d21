#pragma once
// The CPUs this process may run on (sched affinity, so containers and taskset are respected).
// LibTorch's own default intra-op thread count is the number of physical cores as cpuinfo sees
// them, which on some virtual machines is 1 for a 2-vCPU guest; covscreen uses this instead.
#include <initializer_list>
#include <string>
#include <vector>

namespace covscreen {

int usable_cpus();
// Whether /proc/cpuinfo's flags hold any of these ("avx512_vnni", "amx_bf16", ...).
bool cpu_has_flag(std::initializer_list<const char*> any_of);
// The instruction sets that decide covscreen's precisions, as /proc/cpuinfo names those present:
// avx2, avx512f, avx512_vnni, avx_vnni, avx512_bf16, amx_bf16, amx_int8.
std::vector<std::string> cpu_isa_flags();

}  // namespace covscreen
