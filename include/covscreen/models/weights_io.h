#pragma once
// Checkpoints from / to PyTorch weights, and the printable model card (what `covscreen model
// import | export | info` call).
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "covscreen/models/checkpoint.h"
#include "covscreen/models/state_dict.h"

namespace covscreen {

struct ImportOptions {
  ModelConfig model;                 // arch, backbone, input_size, ... (num_classes = classes.size())
  std::vector<std::string> classes;  // at least 2
  std::string state_dict;            // a torchvision / torchxrayvision torch.save file
  uint64_t seed = 0;                 // initialization of everything the file does not provide
};

// A fresh model of `opt.model` (seeded), its backbone loaded from `opt.state_dict`, wrapped in a
// checkpoint (default preprocessing spec at the model's input size, threshold 0.5, training
// metadata naming the source). Throws FileError / UsageError.
Checkpoint import_checkpoint(const ImportOptions& opt, ImportReport* report);

// Writes the checkpoint's full state_dict (our names: torchvision's for the baselines) as a
// torch.save file.
void export_state_dict(const Checkpoint& ck, const std::string& path);

// The card of a fresh model (no checkpoint): arch and part sizes.
nlohmann::json model_card(const ModelConfig& cfg);

// model_card() as aligned text lines for a terminal. A checkpoint's card also carries
// "evaluations" when `model convert --evaluations F.json` attached results on other data (kept in
// Checkpoint::extra["evaluations"]): one "evaluated" line per row.
std::string format_model_card(const nlohmann::json& card);

}  // namespace covscreen
