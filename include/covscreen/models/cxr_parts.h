#pragma once
// The frozen parts of Deep-CXR-Net (deep_cxr_net.h) from files, and building the model around them.
// A part is a DenseNet-121 classifier, given as
//   - a covscreen checkpoint (arch densenet121): trained with `covscreen train` (part 1 on a
//     multi-label CheXpert-format pack, part 2 on the Kermany normal/pneumonia layout); its class
//     list names the outputs and its preprocessing spec says how it was trained;
//   - a torch.save'd state_dict of a torchvision / torchxrayvision DenseNet-121 (features.* and
//     classifier.*; a 1-channel conv0 is spread over the 3 input channels, exact for gray input).
//     Its outputs are named by index ("0", "1", ...), its input side is `state_dict_input_size`.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "covscreen/core/preprocess_spec.h"
#include "covscreen/models/model.h"
#include "covscreen/models/registry.h"

namespace covscreen {

class DeepCXRNetImpl;

struct CxrPart {
  ScreenModel net;                   // DenseNet-121 with a classifier, eval mode, CPU
  std::vector<std::string> outputs;  // names of its outputs (checkpoint classes, or indices)
  PreprocessSpec spec;               // how its inputs were prepared
  bool from_checkpoint = false;
  nlohmann::json provenance;  // file, kind, its training record where known
};

// Throws FileError (unreadable, not a DenseNet-121 classifier) naming the file.
CxrPart read_cxr_part(const std::string& path, int state_dict_input_size);

// Output indices of part 1 named by `select`: every entry an index ("3") or an output name
// ("Edema", case-insensitive); empty = all. Throws UsageError naming what did not match.
std::vector<int> resolve_select(const CxrPart& part1, const std::vector<std::string>& select);

// The deep-cxr-net settings for these parts and a data set with `classes` (two, one COVID) and
// preprocessing `spec`: output counts, input sides, the COVID position. Throws UsageError when the
// classes do not fit or a part was prepared differently (equalization, blur, channels).
ModelConfig::Cxr cxr_settings(const CxrPart& part1, const std::vector<int>& select, const CxrPart& part2,
                              const std::vector<std::string>& classes, const PreprocessSpec& spec);

// Copies the parts into `net` (frozen) and returns what the checkpoint records about them.
nlohmann::json attach_cxr_parts(DeepCXRNetImpl& net, const CxrPart& part1, const CxrPart& part2);

// deep-cxr-net's build_for_training (models/registry.h): reads ctx.parts, completes cfg.cxr from
// them and the data's classes, builds the model with the parts frozen inside. The record is
// {"parts": {"part1": provenance, "part2": provenance}}.
BuiltModel build_deep_cxr_net(ModelConfig& cfg, const ModelBuildContext& ctx);

}  // namespace covscreen
