#include "covscreen/dist/process_group.h"

#include <cstdlib>

#include "covscreen/core/error.h"

#if defined(COVSCREEN_HAVE_GLOO)
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#if defined(COVSCREEN_HAVE_NCCL)
#include <c10/cuda/CUDAFunctions.h>

#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace covscreen::dist {

bool have_gloo() {
#if defined(COVSCREEN_HAVE_GLOO)
  return true;
#else
  return false;
#endif
}

bool have_nccl() {
#if defined(COVSCREEN_HAVE_NCCL)
  return true;
#else
  return false;
#endif
}

const EnumNames<Backend>& backend_names() {
  static const EnumNames<Backend> names{"distributed backend",
                                        {{Backend::kAuto, "auto"}, {Backend::kGloo, "gloo"}, {Backend::kNccl, "nccl"}}};
  return names;
}

std::string unavailable_reason() {
  if (have_gloo() || have_nccl()) return "";
  return "distributed training is unavailable: covscreen was built without a c10d backend "
         "(gloo headers not found: install libgloo-dev, see scripts/setup, and rebuild; or a LibTorch with NCCL)";
}

namespace {

// The backend `opt` asks for, auto resolved: gloo or nccl.
Backend pick_backend(const ProcessGroupOptions& opt) {
  Backend b = opt.backend;
  if (b == Backend::kAuto) b = opt.cuda ? Backend::kNccl : Backend::kGloo;
  if (b == Backend::kNccl && !opt.cuda) throw UsageError("distributed: the nccl backend needs the model on CUDA");
  if (b == Backend::kGloo && !have_gloo())
    throw UsageError(have_nccl() ? "distributed: this build has no gloo backend (only nccl, for CUDA)"
                                 : unavailable_reason());
  if (b == Backend::kNccl && !have_nccl())
    throw UsageError(
        "distributed: this build has no NCCL backend (LibTorch without USE_C10D_NCCL, or nccl.h not "
        "found at configure time: pass -DCOVSCREEN_NCCL_INCLUDE_DIR=...)");
  return b;
}

#if defined(COVSCREEN_HAVE_GLOO)
std::shared_ptr<::gloo::transport::Device> gloo_device(const Rendezvous& rv) {
  if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname)
    return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
  if (rv.master_addr == "127.0.0.1" || rv.master_addr == "localhost")
    return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}
#endif

}  // namespace

ProcessGroup create_process_group(const Rendezvous& rv, const ProcessGroupOptions& opt) {
  rv.validate();
  ProcessGroup pg;
  const Backend backend = pick_backend(opt);
  pg.backend = backend_names().name(backend);
  try {
    pg.store = compat::make_tcp_store(rv.master_addr, static_cast<uint16_t>(rv.master_port), rv.rank == 0,
                                      static_cast<size_t>(rv.world_size), opt.timeout);
  } catch (const std::exception& e) {
    throw Error("distributed: rank " + std::to_string(rv.rank) + " could not reach the job's store at " +
                rv.master_addr + ":" + std::to_string(rv.master_port) + " within " +
                std::to_string(opt.timeout.count() / 1000) + " s: " + e.what());
  }
  try {
#if defined(COVSCREEN_HAVE_GLOO)
    if (backend == Backend::kGloo) {
      auto o = c10d::ProcessGroupGloo::Options::create(opt.timeout);
      o->devices.push_back(gloo_device(rv));
      o->threads = 2;
      pg.comm = c10::make_intrusive<c10d::ProcessGroupGloo>(pg.store, rv.rank, rv.world_size, o);
    }
#endif
#if defined(COVSCREEN_HAVE_NCCL)
    if (backend == Backend::kNccl) {
      c10::cuda::set_device(static_cast<c10::DeviceIndex>(rv.local_rank));
      auto o = c10d::ProcessGroupNCCL::Options::create();
      o->timeout = opt.timeout;
      pg.comm = c10::make_intrusive<c10d::ProcessGroupNCCL>(pg.store, rv.rank, rv.world_size, o);
    }
#endif
  } catch (const std::exception& e) {
    throw Error("distributed: rank " + std::to_string(rv.rank) + " could not form the " + pg.backend +
                " process group of " + std::to_string(rv.world_size) + ": " + e.what());
  }
  if (!pg.comm) throw UsageError(unavailable_reason());
  return pg;
}

}  // namespace covscreen::dist
