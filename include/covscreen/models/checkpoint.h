#pragma once
// A checkpoint: one self-describing, versioned container file (core/container.h) with the
// architecture config, class list, preprocessing spec, weights (fp32 or fp16), the decision
// threshold, training metadata (data set hash, seed, epoch, config, metrics) and, for
// resuming, the optimizer state. Written atomically.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "covscreen/core/preprocess_spec.h"
#include "covscreen/models/model.h"
#include "covscreen/models/typicality.h"

namespace covscreen {

inline constexpr const char* kCheckpointMagic = "CVSCKPT\0";
inline constexpr uint32_t kCheckpointVersion = 1;

struct Checkpoint {
  ModelConfig model;
  std::vector<std::string> classes;
  PreprocessSpec spec;
  double threshold = 0.5;                    // on P(covid) for the screening decision
  std::string threshold_rule = "fixed=0.5";  // metrics::to_string(ThresholdRule): chosen on validation
  nlohmann::json training;                   // seed, epoch, config, data hash, timings
  nlohmann::json metrics;                    // validation metrics at save time
  ScreenModel net;                           // weights live here
  std::string optimizer_state;               // serialized torch optimizer (empty in shipped models)
  nlohmann::json extra;                      // free-form (e.g. rng state, history)
  Typicality typicality;                     // the training images' features (empty in older checkpoints)
};

// half = store floating weights as fp16 (loaded back as fp32). int8_frozen = store the weight
// matrices and kernels (2-D and up) that the architecture keeps frozen (requires_grad off in the
// model as built: deep-cxr-net's parts 1 and 2 and shared trunk) as 8-bit integers with one fp32
// scale per output channel (symmetric, max |w| / 127), loaded back as fp32: half their fp16 size.
void save_checkpoint(const std::string& path, const Checkpoint& ck, bool half = false, bool int8_frozen = false);
// Throws FileError for damaged/foreign files or weights that do not fit the architecture.
// The returned net is on the CPU, in eval mode; tensors stored as fp16 come back as fp32.
Checkpoint load_checkpoint(const std::string& path);
// The model card as JSON (classes, arch, parts, spec, training, metrics).
nlohmann::json model_card(const Checkpoint& ck);
// A checkpoint file's short identity, read without building its model (`covscreen --version`,
// `model info` without a checkpoint): path, arch, classes, threshold, saved (when it was
// trained) and sha256 (of the file, as DICOM results record it). Throws FileError like
// load_checkpoint for a damaged or foreign file.
nlohmann::json checkpoint_identity(const std::string& path);

}  // namespace covscreen
