// Data-parallel training throughput through covscreen's c10d path (TCPStore + gloo or NCCL):
// train_model on a pack with this process as one rank of a job, images/s of the last epoch.
// Joins the job from the torchrun variables (WORLD_SIZE, RANK, ...); without them it forms a
// world of one on a free local port. Builds with LibTorch alone (no OpenCV: no CLI needed).
// Usage: bench_dist_train [--pack P | --n 256 --size 256] [--arch deep-ct-net] [--batch 16]
//                         [--epochs 2] [--device cpu|cuda] [--backend auto|gloo|nccl]
//                         [--amp none|bf16|fp16] [--bn local|frozen] [--baseline 0|1] [--out DIR]
// --baseline 1 also trains the same epochs without the distributed path, for comparison.
// Prints one JSON object (rank 0).
#include <torch/torch.h>

#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "covscreen/data/pack.h"
#include "covscreen/dist/context.h"
#include "covscreen/inference/inference.h"
#include "covscreen/train/trainer.h"

using namespace covscreen;
namespace fs = std::filesystem;

int main(int argc, char** argv) try {
  std::string pack_path, arch = "deep-ct-net", device = "cpu", backend = "auto", amp = "none", bn = "local";
  std::string out = (fs::temp_directory_path() / "covscreen-bench-dist").string();
  int n = 256, size = 256, batch = 16, epochs = 2, baseline = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--pack")
      pack_path = v;
    else if (k == "--n")
      n = std::stoi(v);
    else if (k == "--size")
      size = std::stoi(v);
    else if (k == "--arch")
      arch = v;
    else if (k == "--batch")
      batch = std::stoi(v);
    else if (k == "--epochs")
      epochs = std::stoi(v);
    else if (k == "--device")
      device = v;
    else if (k == "--backend")
      backend = v;
    else if (k == "--amp")
      amp = v;
    else if (k == "--bn")
      bn = v;
    else if (k == "--baseline")
      baseline = std::stoi(v);
    else if (k == "--out")
      out = v;
    else {
      std::cerr << "unknown option " << k << "\n";
      return 1;
    }
  }
  dist::Rendezvous rv;
  if (auto env = dist::rendezvous_from_env())
    rv = *env;
  else
    rv.master_port = dist::free_local_port();
  fs::create_directories(out);
  if (pack_path.empty()) {  // a synthetic pack, written and read back like a real one
    Pack p;
    p.classes = {"covid", "non-covid"};
    auto gen = at::detail::createCPUGenerator(1);
    p.images = torch::randint(0, 256, {n, size, size}, gen, torch::kUInt8);
    for (int i = 0; i < n; ++i) {
      p.labels.push_back(i % 2);
      p.patient_ids.push_back("p" + std::to_string(i));
      p.paths.push_back("synthetic/" + std::to_string(i));
      p.splits.push_back("train");
    }
    p.spec.stage1.size = size;
    pack_path = (fs::path(out) / ("synthetic-rank" + std::to_string(rv.rank) + ".pack")).string();
    write_pack(pack_path, p);
  }
  const Pack pack = read_pack(pack_path);

  TrainConfig cfg;
  cfg.model.arch = arch;
  cfg.epochs = epochs;
  cfg.batch_size = batch;
  cfg.device = device_names().parse(device);
  cfg.amp = amp_names().parse(amp);
  cfg.bn = bn_names().parse(bn);
  cfg.lr = 1e-4;
  TrainInputs in;
  in.train = &pack;
  in.train_source = pack_path;

  double base = 0;
  if (baseline && rv.rank == 0) base = train_model(cfg, in, (fs::path(out) / "baseline").string(), false).images_per_s;

  dist::DistOptions o;
  o.rendezvous = rv;
  o.group.backend = dist::backend_names().parse(backend);
  o.group.cuda = resolve_device(cfg.device).is_cuda();
  o.group.timeout = std::chrono::seconds(300);
  dist::DistributedContext ctx(o);
  in.dist = &ctx;
  const TrainResult r = train_model(cfg, in, (fs::path(out) / "dist").string(), false);
  if (rv.rank == 0) {
    nlohmann::json j = {{"bench", "dist_train"},
                        {"backend", ctx.backend()},
                        {"world_size", rv.world_size},
                        {"device", resolve_device(cfg.device).str()},
                        {"arch", arch},
                        {"batch_per_rank", batch},
                        {"images", pack.size()},
                        {"size", pack.images.size(1)},
                        {"epochs", epochs},
                        {"amp", amp},
                        {"bn", bn},
                        {"overlap", ctx.reducer() ? ctx.reducer()->overlap() : false},
                        {"buckets", ctx.reducer() ? ctx.reducer()->buckets() : 0},
                        {"images_per_s", r.images_per_s},
                        {"torch", TORCH_VERSION}};
    if (baseline) j["baseline_images_per_s"] = base;
    std::cout << j.dump() << "\n";
  }
  return 0;
} catch (const std::exception& e) {
  std::cerr << "bench_dist_train: error: " << e.what() << "\n";
  return 1;
}
