#pragma once
// PyTorch state_dict files (Python `torch.save(model.state_dict(), f)`, the zip format of
// torch >= 1.6) in and out, and importing torchvision / torchxrayvision backbone weights.
//
// Names are torchvision's: "features.denseblock1.denselayer1.norm1.weight", "layer1.0.conv1.weight",
// buffers included ("...running_mean", "...running_var", "...num_batches_tracked").
#include <torch/nn/module.h>
#include <torch/types.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "covscreen/models/model.h"

namespace covscreen {

using StateDict = std::map<std::string, torch::Tensor>;
using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;  // in module order

// Reads a torch.save'd dict of tensors (an OrderedDict state_dict or a plain dict; a checkpoint
// dict holding one under "state_dict" / "model_state_dict" / "model" is unwrapped). Non-tensor
// entries are skipped. Throws FileError (unreadable, legacy pre-1.6 format, not a dict...).
StateDict read_state_dict(const std::string& path);

// Writes a dict of CPU tensors that Python's torch.load reads (atomic). Throws FileError.
void write_state_dict(const std::string& path, const StateDict& sd);
void write_state_dict(const std::string& path, const NamedTensors& sd);  // keeps this order

// Every parameter and buffer of `m` with its full name, in registration order (live tensors).
NamedTensors module_tensors(const torch::nn::Module& m);

// Copies `sd` into `m`. Every tensor of `m` must be present with the same shape and `sd` may
// hold no others; else FileError(source, ...) naming the tensor.
void load_module_state(torch::nn::Module& m, const StateDict& sd, const std::string& source);

// torchvision key clean-up: strips DataParallel "module." prefixes and renames the old
// densenet layout ("denselayer1.norm.1.weight" -> "denselayer1.norm1.weight").
std::string normalize_torchvision_key(const std::string& key);

struct ImportReport {
  std::vector<std::string> loaded;   // model names that received a tensor
  std::vector<std::string> ignored;  // source keys not used (heads, op_threshs, ...)
  std::vector<std::string> missing;  // backbone tensors of the model the source did not have
  std::vector<std::string> notes;    // adaptations made (e.g. 1-channel conv0 -> 3 channels)
  // True when only num_batches_tracked counters are missing (older torchvision files).
  bool complete() const;
};

// Loads backbone weights of a torchvision (or torchxrayvision) DenseNet / ResNet state_dict into
// `model` built from `cfg` (densenet: keys features.*; resnet50: every key but fc.*; the model's
// own head stays as initialized). A 1-channel conv0 (torchxrayvision) is replicated over the
// 3 input channels and divided by 3, which is exact for our gray-replicated input.
// Throws FileError(source, ...) on a shape mismatch or when no backbone tensor matched.
ImportReport import_backbone(ScreenModelImpl& model, const ModelConfig& cfg, const StateDict& sd,
                             const std::string& source);

}  // namespace covscreen
