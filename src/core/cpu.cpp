#include "covscreen/core/cpu.h"

#include <sched.h>

#include <algorithm>
#include <fstream>
#include <thread>

namespace covscreen {

int usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

namespace {

std::string cpu_flags_line() {  // " flag1 flag2 ... " (spaces around each), or "" without /proc/cpuinfo
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("flags", 0) == 0) return line.substr(line.find(':') + 1) + " ";
  return "";
}

}  // namespace

bool cpu_has_flag(std::initializer_list<const char*> any_of) {
  static const std::string flags = cpu_flags_line();
  for (const char* f : any_of)
    if (flags.find(std::string(" ") + f + " ") != std::string::npos) return true;
  return false;
}

std::vector<std::string> cpu_isa_flags() {
  std::vector<std::string> out;
  for (const char* f : {"avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8"})
    if (cpu_has_flag({f})) out.push_back(f);
  return out;
}

}  // namespace covscreen
