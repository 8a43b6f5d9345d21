#pragma once
// The c10d spellings that differ between LibTorch 1.13 (Debian) and 2.x (pip wheels), in one
// place. 2.0 split the collective interface out of ProcessGroup into c10d::Backend, which
// ProcessGroupGloo/NCCL now derive from; 1.13's ProcessGroupGloo derives from ProcessGroup.
// Both expose the same broadcast/allreduce/barrier signatures and return c10d::Work.
// Only the c10d base headers here (no gloo, no NCCL): they ship with every LibTorch.
#include <torch/version.h>

#include <chrono>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>

#if TORCH_VERSION_MAJOR >= 2
#include <torch/csrc/distributed/c10d/Backend.hpp>
#endif

namespace covscreen::compat {

#if TORCH_VERSION_MAJOR >= 2
using Comm = c10d::Backend;  // what ProcessGroupGloo / ProcessGroupNCCL are
#else
using Comm = c10d::ProcessGroup;
#endif
using CommPtr = c10::intrusive_ptr<Comm>;
using WorkPtr = c10::intrusive_ptr<c10d::Work>;

// TCPStore with a connect/get timeout; rank 0 hosts it. Same option fields in 1.13 and 2.x
// (2.x adds more, e.g. useLibUV, left at their defaults).
inline c10::intrusive_ptr<c10d::Store> make_tcp_store(const std::string& host, uint16_t port, bool is_server,
                                                      size_t world_size, std::chrono::milliseconds timeout) {
  c10d::TCPStoreOptions o;
  o.port = port;
  o.isServer = is_server;
  o.numWorkers = world_size;
  o.waitWorkers = true;
  o.timeout = timeout;
  return c10::make_intrusive<c10d::TCPStore>(host, o);
}

}  // namespace covscreen::compat
