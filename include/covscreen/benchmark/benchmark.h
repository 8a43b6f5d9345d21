#pragma once
// `covscreen bench`: how fast screening runs on this machine, against the same model in
// PyTorch from Python in the same run. Phases (each a JSON object in the result):
//   stage1      decode + stage 1 on one thread (images/s)
//   screen      end to end on real files: decode -> stage 1 -> stage 2 -> model -> probabilities
//   latency     one file at a time (batch 1), p50 / p95 / max in ms
//   model       model only (stage 2 + forward) on synthetic batches
//   train       training step (stage 2 + forward + backward + Adam) on synthetic batches
//   baseline    bench/python/pytorch_baseline.py on the same files, batch and threads, for the
//               networks it builds (Deep-CT-Net with DenseNet-121, plain ResNet-50; else "skipped"):
//               "typical" (fp32, NCHW: what a PyTorch user writes) and "tuned" (covscreen's
//               precision and layout; int8 = FX post-training quantization, the anchor), screening,
//               model only and training (int8: fp32 training on both sides); plus how far its
//               probabilities are from covscreen's (a check that both run the same weights)
//   precisions  with all_precisions: screen and model only in each other precision
//   ratio       covscreen / baseline images/s for screen, model and train
// Peak resident memory of covscreen (after screening, and at the end) and of each baseline run.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "covscreen/inference/inference.h"

namespace covscreen {

struct BenchmarkOptions {
  std::vector<std::string> inputs;  // image / DICOM files or folders
  std::string model;                // checkpoint
  int max_images = 200;             // the first N files (sorted) of the inputs
  int batch = 4;                    // per worker (small batches keep the caches warm)
  int threads = 0;                  // intra-op threads; 0 = as set by the caller
  int workers = 0;                  // the pipeline's batch workers; 0 = its default
  Precision precision = Precision::kAuto;
  DeviceKind device = DeviceKind::kCpu;
  int latency_samples = 30;
  int steps = 6;      // timed steps of the model-only and training phases
  bool train = true;  // run the training phases
  // Also screen and model-only in the other precisions this machine and checkpoint can run (fp32;
  // bf16 where native; int8 where the checkpoint has an int8 form), each against the Python baseline's
  // model only in the same precision ("precisions", "baseline.model_tuned_<p>", "ratio.model_vs_tuned_<p>").
  bool all_precisions = false;
  bool baseline = true;  // run the Python baseline
  std::string python = "/usr/bin/python3";
  std::string baseline_script;  // default: <source dir>/bench/python/pytorch_baseline.py
};

// Runs every phase; progress lines go to stderr. Throws UsageError / FileError when the model
// or the inputs cannot be used; a failing baseline is recorded in the result, not thrown.
nlohmann::json run_benchmark(const BenchmarkOptions& opt);

}  // namespace covscreen
