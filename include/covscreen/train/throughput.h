#pragma once
// Throughput of a screening model, measured the way benchmarks report it: images/s over timed
// steps after warm-up steps, on synthetic stage-1 images (uint8 [B, size, size]).
//   training:  stage 2 (with augmentation) + forward + BCE on one-hot + backward + Adam
//   inference: stage 2 + forward + sigmoid, in inference mode (model-only throughput)
// Used by `covscreen bench` and the bench/ programs (which build without OpenCV, e.g. on a GPU node).
#include <nlohmann/json.hpp>
#include <string>

#include "covscreen/inference/inference.h"
#include "covscreen/models/model.h"
#include "covscreen/train/train_config.h"

namespace covscreen {

struct ThroughputOptions {
  int batch = 16;
  int steps = 6;   // timed steps
  int warmup = 2;  // untimed steps first (oneDNN/cuDNN pick kernels then)
  DeviceKind device = DeviceKind::kCpu;
  Precision precision = Precision::kAuto;  // see resolve_precision
  bool channels_last = true;               // NHWC inputs and weights (as the trainer and the pipeline run)
  int size = 256;
  uint64_t seed = 0;
  // training only, as when fine-tuning (train/fine_tune.h): backbone parts kept fixed, BN mode
  std::vector<std::string> freeze;
  BnMode bn = BnMode::kLocal;
};

struct ThroughputResult {
  std::string what;           // "train" | "inference"
  ThroughputOptions options;  // with device and precision resolved
  double seconds = 0;         // timed steps only
  double images_per_s = 0;
};
void to_json(nlohmann::json& j, const ThroughputResult& r);

ThroughputResult measure_training(const ModelConfig& cfg, ThroughputOptions opt);
ThroughputResult measure_inference(ScreenModelImpl& net, ThroughputOptions opt);

}  // namespace covscreen
