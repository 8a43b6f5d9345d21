#pragma once
// The frozen parts of Deep-CXR-Net (deep_cxr_net.h) from files, and building the model around them.
// A part is a classifier, given as
//   - a covscreen checkpoint (arch densenet121, resnet50 or resnet50v1): trained with `covscreen
//     train` (part 1 on a multi-label CheXpert-format pack, part 2 on normal/pneumonia images);
//     its class list names the outputs and its preprocessing spec says how it was trained;
//   - a torch.save'd state_dict of a torchvision / torchxrayvision DenseNet-121 (features.* and
//     classifier.*; a 1-channel conv0 is spread over the 3 input channels, exact for gray input).
//     Its outputs are named by index ("0", "1", ...), its input side is `state_dict_input_size`.
// Both parts have one architecture, which becomes cxr.part_arch. With cxr.shared_stages N, their
// stem and layers 1..N must be identical (fine-tuned from the same weights with those frozen:
// `train --freeze conv1,bn1,layer1,...`) and equal to part 3's backbone after --init; the model
// then keeps them once (deep_cxr_net.h).
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "covscreen/core/preprocess_spec.h"
#include "covscreen/models/model.h"
#include "covscreen/models/registry.h"

namespace covscreen {

class DeepCXRNetImpl;

struct CxrPart {
  ScreenModel net;                   // a classifier of `arch`, eval mode, CPU
  std::string arch;                  // densenet121 | resnet50 | resnet50v1
  std::vector<std::string> outputs;  // names of its outputs (checkpoint classes, or indices)
  PreprocessSpec spec;               // how its inputs were prepared
  bool from_checkpoint = false;
  nlohmann::json provenance;  // file, kind, its training record where known
};

// Throws FileError (unreadable, not a classifier a part can be) naming the file.
CxrPart read_cxr_part(const std::string& path, int state_dict_input_size);

// Output indices of part 1 named by `select`: every entry an index ("3") or an output name
// ("Edema", case-insensitive); empty = all. Throws UsageError naming what did not match.
std::vector<int> resolve_select(const CxrPart& part1, const std::vector<std::string>& select);

// `base` (the user's cxr settings: trunk_features, head_hidden, shared_stages) completed for these
// parts and a data set with `classes` (two, one COVID) and preprocessing `spec`: architecture,
// output counts, input sides, the COVID position. Throws UsageError when the classes do not fit,
// the parts differ in architecture, or a part was prepared differently (equalization, blur, channels).
ModelConfig::Cxr cxr_settings(const CxrPart& part1, const std::vector<int>& select, const CxrPart& part2,
                              const std::vector<std::string>& classes, const PreprocessSpec& spec,
                              ModelConfig::Cxr base = {});

// Copies the parts into `net` (frozen) and returns what the checkpoint records about them. With a
// shared trunk: `trunk_set` says whether net's trunk already holds weights (--init) that the parts'
// must equal; otherwise it takes part 1's. Throws UsageError when a part's trunk differs.
nlohmann::json attach_cxr_parts(DeepCXRNetImpl& net, const CxrPart& part1, const CxrPart& part2,
                                bool trunk_set = false);

// deep-cxr-net's build_for_training (models/registry.h): reads ctx.parts, completes cfg.cxr from
// them and the data's classes, builds the model, runs ctx.init on it, attaches the parts frozen
// inside. The record is {"parts": {"part1": provenance, "part2": provenance}}.
BuiltModel build_deep_cxr_net(ModelConfig& cfg, const ModelBuildContext& ctx);

}  // namespace covscreen
