// Training and model-only inference throughput of a screening model (LibTorch only, so it builds
// on a GPU node without OpenCV): images/s per step on synthetic 256x256 stage-1 images.
// Usage: bench_train_throughput [--what train|inference|both] [--arch deep-ct-net] [--batch 16]
//          [--threads 2] [--steps 6] [--warmup 2] [--precision auto|fp32|bf16|fp16]
//          [--layout channels_last|nchw] [--device cpu|cuda|auto] [--size 256]
//          [--backbone resnet50v1] [--freeze conv1,bn1,layer1|none] [--bn local|frozen]
//        (--freeze and --bn as `covscreen train`'s: the cost of each fine-tuning choice)
// Prints one JSON object: {"train": {...}, "inference": {...}, "peak_rss_mb": ...}.
#include <sys/resource.h>
#include <torch/torch.h>

#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "covscreen/core/strings.h"
#include "covscreen/train/throughput.h"

using namespace covscreen;

int main(int argc, char** argv) try {
  std::string what = "both", arch = "deep-ct-net", backbone;
  int threads = 0;
  ThroughputOptions opt;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--what")
      what = v;
    else if (k == "--arch")
      arch = v;
    else if (k == "--batch")
      opt.batch = std::stoi(v);
    else if (k == "--threads")
      threads = std::stoi(v);
    else if (k == "--steps")
      opt.steps = std::stoi(v);
    else if (k == "--warmup")
      opt.warmup = std::stoi(v);
    else if (k == "--precision")
      opt.precision = precision_names().parse(v);
    else if (k == "--layout")
      opt.channels_last = v == "channels_last";
    else if (k == "--device")
      opt.device = device_names().parse(v);
    else if (k == "--size")
      opt.size = std::stoi(v);
    else if (k == "--backbone")
      backbone = v;
    else if (k == "--freeze")
      opt.freeze = v == "none" ? std::vector<std::string>{} : split_list(v);
    else if (k == "--bn")
      opt.bn = bn_names().parse(v);
    else {
      std::cerr << "unknown option " << k << "\n";
      return 1;
    }
  }
  if (threads > 0) torch::set_num_threads(threads);
  ModelConfig cfg;
  cfg.arch = arch;
  cfg.input_size = opt.size;
  if (!backbone.empty()) cfg.backbone = backbone;
  nlohmann::json out = {{"bench", "model_throughput"}, {"arch", arch}, {"torch", TORCH_VERSION}};
  if (!backbone.empty()) out["backbone"] = backbone;
  if (what == "train" || what == "both") out["train"] = measure_training(cfg, opt);
  if (what == "inference" || what == "both") {
    torch::manual_seed(opt.seed);
    ScreenModel net = make_model(cfg);
    out["inference"] = measure_inference(*net, opt);
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  out["peak_rss_mb"] = ru.ru_maxrss / 1024.0;
  std::cout << out.dump() << "\n";
  return 0;
} catch (const std::exception& e) {
  std::cerr << "bench_train_throughput: " << e.what() << "\n";
  return 1;
}
