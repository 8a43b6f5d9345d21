#pragma once
// Forming the process group: a TCPStore hosted by rank 0 at MASTER_ADDR:MASTER_PORT, then
// ProcessGroupGloo (CPU tensors) or ProcessGroupNCCL (CUDA tensors) over it. Each backend is
// compiled in only where this LibTorch has it and its headers were found at configure time
// (COVSCREEN_HAVE_GLOO, COVSCREEN_HAVE_NCCL); asking for a missing one is a clear UsageError.
//
// Timeouts: `timeout` bounds the store (connecting, rendezvous) and every collective (gloo's
// per-operation timeout; NCCL's blocking-wait timeout), so a rank that dies or hangs makes the
// others fail with an error instead of waiting forever (see watchdog.h for the backstop).
#include <chrono>
#include <string>

#include "covscreen/core/registry.h"
#include "covscreen/dist/c10d_compat.h"
#include "covscreen/dist/rendezvous.h"

namespace covscreen::dist {

enum class Backend { kAuto, kGloo, kNccl };  // auto: nccl for a CUDA device, else gloo
const EnumNames<Backend>& backend_names();   // auto | gloo | nccl

struct ProcessGroupOptions {
  Backend backend = Backend::kAuto;
  bool cuda = false;  // the tensors to communicate live on CUDA
  std::chrono::milliseconds timeout{std::chrono::seconds(300)};
};

struct ProcessGroup {
  c10::intrusive_ptr<c10d::Store> store;
  compat::CommPtr comm;
  std::string backend;  // the one chosen, by its name in backend_names(): "gloo" | "nccl"
};

bool have_gloo();  // compiled with gloo
bool have_nccl();  // compiled with NCCL
// "" when some backend is compiled in, else why distributed training is unavailable.
std::string unavailable_reason();

// Blocks until all world_size ranks joined (or the timeout passes: then throws Error).
ProcessGroup create_process_group(const Rendezvous& rv, const ProcessGroupOptions& opt);

}  // namespace covscreen::dist
