#pragma once
// `covscreen model quantize`: post-training static int8 quantization of a checkpoint (models/int8.h).
//   1. calibration: the model runs in fp32 over images it was validated on (a few hundred), every
//      ResNet recording the range of each tensor it will quantize;
//   2. agreement: on labelled images (the calibration data unless others are given) the model runs
//      in fp32 and in int8; the AUC of each and how many images get the same decision at the model's
//      threshold are measured, and the bar (|AUC difference| <= max_auc_difference and the same
//      decision for >= min_same_decision of the images) met or not;
//   3. the checkpoint is written with Checkpoint::extra["int8"]: the form (activation ranges), the
//      calibration data's description and hash, the agreement and the parts run in int8 / fp32
//      (models/int8.h int8_record). `--precision int8` then runs it; `auto` only where the bar was met.
//   QuantizeJob job{.model = "m.ckpt", .calibration = "val.pack", .out = "m-int8.ckpt"};
//   const nlohmann::json record = quantize_model(job);   // record["agreement"]["met"]
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "covscreen/inference/inference.h"

namespace covscreen {

struct QuantizeJob {
  std::string model;        // checkpoint to quantize
  std::string calibration;  // pack, manifest CSV or folder (load_data): images the model was validated on
  std::string layout = "auto";
  std::string split;            // of the calibration data; "" = all
  int max_images = 400;         // calibration images used at most (evenly spaced over the data)
  std::string agreement;        // labelled data for the agreement; "" = the calibration data (all of it)
  std::string agreement_split;  // "" = all
  double max_auc_difference = 0.005;
  double min_same_decision = 0.99;
  // Stages kept in fp32: "PATH" (a whole ResNet) or "PATH:S" (its stage S: 0 = stem, 1..4 = layerN),
  // PATH as in int8_parts ("" = a plain ResNet-50).
  std::vector<std::string> fp32;
  std::string out;
  bool half = false, int8_frozen = false;  // weight storage, as `model convert`
  std::string cache_dir;
  int batch_size = 16;
  std::string command;  // recorded
};

// The record written into the checkpoint (int8_record). Throws UsageError (nothing written) for a
// model without a ResNet, data without readable images, or data without both classes for the AUC.
nlohmann::json quantize_model(const QuantizeJob& job);

}  // namespace covscreen
