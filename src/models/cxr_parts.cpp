#include "covscreen/models/cxr_parts.h"

#include <torch/torch.h>

#include <fstream>

#include "covscreen/core/error.h"
#include "covscreen/core/labels.h"
#include "covscreen/core/strings.h"
#include "covscreen/models/checkpoint.h"
#include "covscreen/models/deep_cxr_net.h"
#include "covscreen/models/registry.h"
#include "covscreen/models/state_dict.h"

namespace covscreen {
namespace {

bool is_checkpoint_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char head[8] = {};
  f.read(head, sizeof head);
  return f.gcount() == 8 && std::string(head, 8) == std::string(kCheckpointMagic, 8);
}

CxrPart from_state_dict(const std::string& path, int input_size) {
  const StateDict sd = read_state_dict(path);
  auto w = sd.find("classifier.weight");
  if (w == sd.end() || w->second.dim() != 2)
    throw FileError(path,
                    "not a DenseNet-121 classifier state_dict: no 2-D 'classifier.weight' (a part needs "
                    "its classifier, not only the backbone)");
  ModelConfig cfg;
  cfg.arch = "densenet121";
  cfg.num_classes = static_cast<int>(w->second.size(0));
  cfg.input_size = input_size;
  CxrPart part;
  part.arch = cfg.arch;
  part.net = make_model(cfg);
  const ImportReport rep = import_backbone(*part.net, cfg, sd, path);
  if (!rep.complete()) throw FileError(path, "DenseNet-121 tensors missing, e.g. '" + rep.missing.front() + "'");
  {
    torch::NoGradGuard no_grad;
    auto params = part.net->named_parameters(true);
    for (const char* name : {"classifier.weight", "classifier.bias"}) {
      auto src = sd.find(name);
      if (src == sd.end() || src->second.sizes() != params[name].sizes())
        throw FileError(path, std::string("'") + name + "' is missing or has the wrong shape");
      params[name].copy_(src->second);
    }
  }
  part.net->eval();
  for (int i = 0; i < cfg.num_classes; ++i) part.outputs.push_back(std::to_string(i));
  part.spec.stage1.size = input_size;
  part.provenance = {{"file", path}, {"kind", "state_dict"}, {"outputs", cfg.num_classes}, {"notes", rep.notes}};
  return part;
}

}  // namespace

CxrPart read_cxr_part(const std::string& path, int state_dict_input_size) {
  if (!is_checkpoint_file(path)) return from_state_dict(path, state_dict_input_size);
  Checkpoint ck = load_checkpoint(path);
  const std::string& arch = ck.model.arch;
  if (arch != "densenet121" && arch != "resnet50" && arch != "resnet50v1")
    throw FileError(
        path,
        "a Deep-CXR-Net part must be a densenet121, resnet50 or resnet50v1 classifier, this checkpoint is " + arch);
  CxrPart part;
  part.arch = arch;
  part.net = ck.net;
  part.outputs = ck.classes;
  part.spec = ck.spec;
  part.from_checkpoint = true;
  part.provenance = {{"file", path},    {"kind", "checkpoint"},    {"classes", ck.classes},
                     {"spec", ck.spec}, {"training", ck.training}, {"metrics", ck.metrics}};
  if (part.provenance["training"].is_object())
    part.provenance["training"].erase("config");  // the config is large and in the part's own file
  return part;
}

std::vector<int> resolve_select(const CxrPart& part1, const std::vector<std::string>& select) {
  std::vector<int> out;
  for (const auto& s : select) {
    const bool numeric = !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
    int found = -1;
    for (size_t i = 0; i < part1.outputs.size(); ++i)
      if (numeric ? std::to_string(i) == s : lower_trim(part1.outputs[i]) == lower_trim(s)) found = static_cast<int>(i);
    if (found < 0) {
      throw UsageError("part 1 has no output '" + s + "' (outputs: " + join(part1.outputs, ", ") + ")");
    }
    out.push_back(found);
  }
  return out;
}

ModelConfig::Cxr cxr_settings(const CxrPart& part1, const std::vector<int>& select, const CxrPart& part2,
                              const std::vector<std::string>& classes, const PreprocessSpec& spec, ModelConfig::Cxr x) {
  const int covid = covid_index(classes);
  if (classes.size() != 2 || covid < 0)
    throw UsageError("deep-cxr-net screens COVID vs the rest: the data needs two classes, one of them COVID (has " +
                     std::to_string(classes.size()) + ")");
  const std::pair<const CxrPart*, const char*> parts[] = {{&part1, "part 1"}, {&part2, "part 2"}};
  for (const auto& [p, name] : parts) {
    if (!p->from_checkpoint) continue;  // a state_dict brings no spec: the user vouches for it
    // The parts see this data's images, resized to the size each was trained at.
    if (const std::string d = screening_difference(p->spec, spec, /*ignore_size=*/true); !d.empty())
      throw UsageError(std::string(name) + " (" + p->provenance.value("file", "") +
                       ") was trained on images prepared otherwise than this data's: " + d);
  }
  if (part1.arch != part2.arch)
    throw UsageError("deep-cxr-net: the parts must have one architecture (part 1 is " + part1.arch + ", part 2 " +
                     part2.arch + ")");
  x.part_arch = part1.arch;
  x.part1_outputs = static_cast<int>(part1.outputs.size());
  x.part1_select = select;
  x.part2_outputs = static_cast<int>(part2.outputs.size());
  x.part1_input_size = part1.spec.stage1.size == spec.stage1.size ? 0 : part1.spec.stage1.size;
  x.part2_input_size = part2.spec.stage1.size == spec.stage1.size ? 0 : part2.spec.stage1.size;
  x.positive_index = covid;
  return x;
}

namespace {

// Part 3's backbone tensors of the shared trunk (stem, layer1..N), by their names within it.
bool in_trunk(const std::string& key, int shared) {
  if (key.rfind("conv1.", 0) == 0 || key.rfind("bn1.", 0) == 0) return true;
  for (int s = 1; s <= shared; ++s)
    if (key.rfind("layer" + std::to_string(s) + ".", 0) == 0) return true;
  return false;
}

// Makes part 3's trunk the parts' (taken from part 1 unless `trunk_set`), or throws naming the
// first tensor where a part's differs. Batch norms' batch counters do not enter the function.
void share_trunk(DeepCXRNetImpl& net, const CxrPart& part1, const CxrPart& part2, bool trunk_set) {
  const int shared = net.config().cxr.shared_stages;
  torch::NoGradGuard no_grad;
  auto& bb = net.part3().backbone();
  auto compare = [&](torch::OrderedDict<std::string, torch::Tensor> mine, const CxrPart& part, bool copy) {
    auto theirs = part.net->named_parameters(true);
    for (const auto& b : part.net->named_buffers(true)) theirs.insert(b.key(), b.value());
    for (auto& t : mine) {
      if (!in_trunk(t.key(), shared) || t.key().find("num_batches_tracked") != std::string::npos) continue;
      const torch::Tensor* src = theirs.find(t.key());
      if (!src || src->sizes() != t.value().sizes())
        throw UsageError("deep-cxr-net: " + part.provenance.value("file", std::string("a part")) + " has no '" +
                         t.key() + "' of the shared trunk");
      if (copy) {
        t.value().copy_(*src);
      } else if (!torch::equal(t.value(), src->to(t.value().dtype()))) {
        throw UsageError("deep-cxr-net: the shared trunk (stem and layers 1.." + std::to_string(shared) + ") of " +
                         part.provenance.value("file", std::string("a part")) + " differs from " +
                         (trunk_set ? "the --init weights" : "part 1's") + " at '" + t.key() +
                         "': train the parts from the same weights with those stages frozen (--freeze), or "
                         "set cxr.shared_stages 0");
      }
    }
  };
  for (bool params : {true, false}) {
    auto mine = params ? bb.named_parameters(true) : bb.named_buffers(true);
    compare(mine, part1, /*copy=*/!trunk_set);
    compare(mine, part2, false);
  }
}

}  // namespace

nlohmann::json attach_cxr_parts(DeepCXRNetImpl& net, const CxrPart& part1, const CxrPart& part2, bool trunk_set) {
  net.set_part(1, *part1.net);
  net.set_part(2, *part2.net);
  if (net.config().cxr.shared_stages > 0) share_trunk(net, part1, part2, trunk_set);
  nlohmann::json p1 = part1.provenance, p2 = part2.provenance;
  std::vector<std::string> chosen;
  const auto& sel = net.config().cxr.part1_select;
  if (sel.empty()) chosen = part1.outputs;
  for (int i : sel) chosen.push_back(part1.outputs[static_cast<size_t>(i)]);
  p1["selected_outputs"] = chosen;
  return {{"part1", p1}, {"part2", p2}};
}

BuiltModel build_deep_cxr_net(ModelConfig& cfg, const ModelBuildContext& ctx) {
  if (ctx.multilabel)
    throw UsageError("train: deep-cxr-net is a COVID classifier; a multi-label pack trains its part 1 (densenet121)");
  if (ctx.parts.part1.empty() || ctx.parts.part2.empty())
    throw UsageError(
        "train: deep-cxr-net needs its two frozen parts (--part1 findings model, --part2 pneumonia model)");
  const CxrPart part1 = read_cxr_part(ctx.parts.part1, cfg.input_size);
  const CxrPart part2 = read_cxr_part(ctx.parts.part2, cfg.input_size);
  cfg.cxr = cxr_settings(part1, resolve_select(part1, ctx.parts.part1_select), part2, ctx.classes, ctx.spec, cfg.cxr);
  auto net = std::make_shared<DeepCXRNetImpl>(cfg);
  if (ctx.init) ctx.init(*net);
  nlohmann::json record = {{"parts", attach_cxr_parts(*net, part1, part2, static_cast<bool>(ctx.init))}};
  return {net, record};
}

}  // namespace covscreen
