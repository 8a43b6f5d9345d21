#include "covscreen/models/state_dict.h"

#include <torch/serialize.h>

#include <regex>
#include <set>
#include <sstream>

#include "covscreen/core/container.h"
#include "covscreen/core/error.h"
#include "covscreen/core/strings.h"
#include "covscreen/models/keras_resnet.h"
#include "covscreen/models/registry.h"
#include "torch_pickle.h"

namespace covscreen {

namespace {

std::string shape_str(const torch::Tensor& t) {
  std::ostringstream s;
  s << t.sizes();
  return s.str();
}

}  // namespace

std::string normalize_torchvision_key(const std::string& key) {
  std::string k = key;
  while (starts_with(k, "module.")) k = k.substr(7);
  static const std::regex old_dense(
      R"(^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$)");
  std::smatch m;
  if (std::regex_match(k, m, old_dense)) {
    k = m[1].str() + m[2].str();  // "...norm" + "1.weight"
  }
  return k;
}

StateDict read_state_dict(const std::string& path) {
  const std::string bytes = read_file(path);
  if (bytes.size() < 4) throw FileError(path, "too short to be a torch.save file");
  if (bytes.compare(0, 4, "PK\x03\x04") != 0) {
    if (static_cast<unsigned char>(bytes[0]) == 0x80)
      throw FileError(path,
                      "legacy (pre-1.6) torch.save format; re-save it in Python with "
                      "torch.save(torch.load(f), f2) on torch >= 1.6");
    if (bytes.compare(0, 7, "CVSCKPT") == 0) throw FileError(path, "a covscreen checkpoint, not a PyTorch state_dict");
    throw FileError(path, "not a torch.save file (expected a zip archive)");
  }
  detail::PickledDict d = detail::read_torch_zip(path);
  if (d.tensors.empty()) {
    for (const char* wrap : {"state_dict", "model_state_dict", "model"})
      for (const auto& [name, inner] : d.dicts)
        if (name == wrap && !inner.tensors.empty()) return StateDict(inner.tensors.begin(), inner.tensors.end());
    throw FileError(path, "torch.save file holds no tensors");
  }
  StateDict sd;
  for (auto& [name, t] : d.tensors)
    if (!sd.emplace(name, t).second) throw FileError(path, "key '" + name + "' appears twice");
  return sd;
}

void write_state_dict(const std::string& path, const NamedTensors& sd) {
  c10::Dict<std::string, torch::Tensor> dict;
  for (const auto& [name, t] : sd) {
    if (dict.contains(name)) throw Error("write_state_dict: duplicate name '" + name + "'");
    dict.insert(name, t.detach().to(torch::kCPU).contiguous().clone());
  }
  std::vector<char> bytes;
  try {
    bytes = torch::pickle_save(c10::IValue(dict));
  } catch (const c10::Error& e) {
    throw FileError(path, std::string("cannot serialize state_dict: ") + e.what_without_backtrace());
  }
  write_file_atomic(path, std::string(bytes.begin(), bytes.end()));
}

void write_state_dict(const std::string& path, const StateDict& sd) {
  write_state_dict(path, NamedTensors(sd.begin(), sd.end()));
}

NamedTensors module_tensors(const torch::nn::Module& m) {
  NamedTensors out;
  for (const auto& p : m.named_parameters(/*recurse=*/true)) out.emplace_back(p.key(), p.value());
  for (const auto& b : m.named_buffers(/*recurse=*/true)) out.emplace_back(b.key(), b.value());
  return out;
}

void load_module_state(torch::nn::Module& m, const StateDict& sd, const std::string& source) {
  torch::NoGradGuard no_grad;
  std::set<std::string> used;
  for (auto& [name, dst] : module_tensors(m)) {
    auto it = sd.find(name);
    if (it == sd.end()) throw FileError(source, "tensor '" + name + "' is missing");
    if (it->second.sizes() != dst.sizes())
      throw FileError(
          source, "tensor '" + name + "' has shape " + shape_str(it->second) + ", the model needs " + shape_str(dst));
    dst.copy_(it->second);
    used.insert(name);
  }
  for (const auto& [name, t] : sd)
    if (!used.count(name)) throw FileError(source, "unexpected tensor '" + name + "' (not in this architecture)");
}

bool ImportReport::complete() const {
  for (const auto& m : missing)
    if (m.size() < 20 || m.compare(m.size() - 20, 20, "num_batches_tracked") != 0) return false;
  return true;
}

ImportReport import_backbone(ScreenModelImpl& model, const ModelConfig& cfg, const StateDict& sd,
                             const std::string& source) {
  const std::string arch = backbone_name(cfg);
  const Backbone& backbone = backbones().get(arch);
  const auto& is_backbone_key = backbone.is_torchvision_key;
  const std::string prefix = model.backbone_prefix();
  if (sd.count(kStrideOn1x1Key) && arch != "resnet50v1")
    throw FileError(source,
                    "holds ResNet-50 v1 weights (Keras/Caffe: each stage's stride on the first 1x1 conv), "
                    "which are only right in the resnet50v1 backbone, not in " +
                        arch);
  std::map<std::string, torch::Tensor> targets;  // model name -> live tensor, backbone only
  for (auto& [name, t] : module_tensors(model))
    if (!backbone_key(model, cfg, name).empty()) targets[name] = t;

  ImportReport rep;
  std::set<std::string> done;
  torch::NoGradGuard no_grad;
  for (const auto& [key, src_in] : sd) {
    if (key == kStrideOn1x1Key) continue;
    const std::string k = normalize_torchvision_key(key);
    auto it = is_backbone_key(k) ? targets.find(prefix + k) : targets.end();
    if (it == targets.end()) {
      rep.ignored.push_back(key);
      continue;
    }
    torch::Tensor src = src_in;
    torch::Tensor& dst = it->second;
    if (src.dim() == 4 && dst.dim() == 4 && src.size(1) == 1 && dst.size(1) == 3 && src.size(0) == dst.size(0) &&
        src.size(2) == dst.size(2) && src.size(3) == dst.size(3)) {
      src = src.expand({-1, 3, -1, -1}) / 3.0;
      rep.notes.push_back(key + ": 1 input channel replicated to 3 (weights / 3)");
    }
    if (src.sizes() != dst.sizes())
      throw FileError(source, "tensor '" + key + "' has shape " + shape_str(src) + ", the " + arch + " backbone's '" +
                                  it->first + "' needs " + shape_str(dst));
    dst.copy_(src);
    rep.loaded.push_back(it->first);
    done.insert(it->first);
  }
  for (const auto& [name, t] : targets)
    if (!done.count(name)) rep.missing.push_back(name);
  if (rep.loaded.empty())
    throw FileError(
        source, "no " + arch + " backbone tensor found (expected torchvision names like " + backbone.example_key + ")");
  return rep;
}

}  // namespace covscreen
