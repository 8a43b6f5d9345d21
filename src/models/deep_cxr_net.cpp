#include "covscreen/models/deep_cxr_net.h"

#include <torch/nn/functional/upsampling.h>
#include <torch/torch.h>

#include "covscreen/core/error.h"
#include "covscreen/models/cxr_parts.h"
#include "covscreen/models/densenet.h"
#include "covscreen/models/registry.h"
#include "covscreen/models/resnet.h"

namespace covscreen {

namespace nn = torch::nn;

void validate_cxr(const ModelConfig& cfg) {
  const auto& x = cfg.cxr;
  if (cfg.num_classes != 2)
    throw UsageError("model: deep-cxr-net has two classes (COVID and the rest), got " +
                     std::to_string(cfg.num_classes));
  if (x.positive_index != 0 && x.positive_index != 1) throw UsageError("model: cxr.positive_index must be 0 or 1");
  if (x.part1_outputs < 1 || x.part1_outputs > 1000 || x.part2_outputs < 1 || x.part2_outputs > 1000)
    throw UsageError("model: cxr part output counts must be in [1, 1000]");
  for (int i : x.part1_select)
    if (i < 0 || i >= x.part1_outputs)
      throw UsageError("model: cxr.part1_select index " + std::to_string(i) + " is outside part 1's " +
                       std::to_string(x.part1_outputs) + " outputs");
  for (int s : {x.part1_input_size, x.part2_input_size})
    if (s != 0 && (s < 32 || s > 4096)) throw UsageError("model: cxr part input sizes must be 0 or in [32, 4096]");
  if (x.trunk_features < 1 || x.trunk_features > 65536 || x.head_hidden < 1 || x.head_hidden > 65536)
    throw UsageError("model: cxr.trunk_features and cxr.head_hidden must be in [1, 65536]");
  const bool resnet = x.part_arch == "resnet50" || x.part_arch == "resnet50v1";
  if (!resnet && x.part_arch != "densenet121")
    throw UsageError("model: cxr.part_arch must be densenet121, resnet50 or resnet50v1, not '" + x.part_arch + "'");
  if (x.shared_stages < 0 || x.shared_stages > 3)
    throw UsageError("model: cxr.shared_stages must be in [0, 3] (layer4 stays each part's own)");
  if (x.shared_stages > 0 && (!resnet || cfg.backbone != x.part_arch))
    throw UsageError("model: cxr.shared_stages needs cxr.part_arch a ResNet and the backbone the same (part_arch " +
                     x.part_arch + ", backbone " + cfg.backbone + ")");
  if (x.shared_stages > 0 && (x.part1_input_size != 0 || x.part2_input_size != 0))
    throw UsageError("model: parts sharing a trunk must take the model's input size");
}

Architecture deep_cxr_net_architecture() {
  Architecture a;
  a.summary = "Deep-CXR-Net: frozen findings + pneumonia parts, a Deep-CT-Net trunk, one COVID logit";
  a.uses_fpa = true;
  a.make = [](const ModelConfig& cfg) { return std::make_shared<DeepCXRNetImpl>(cfg); };
  a.validate = validate_cxr;
  a.build_for_training = build_deep_cxr_net;
  return a;
}

namespace {

ModelConfig trunk_config(const ModelConfig& cfg) {
  ModelConfig t = cfg;
  t.arch = "deep-ct-net";
  t.num_classes = cfg.cxr.trunk_features;
  return t;
}

void freeze(nn::Module& m) {
  for (auto& p : m.parameters()) p.set_requires_grad(false);
  m.eval();
}

// A part: a classifier of `arch` with `outputs` outputs; a ResNet tail after `shared` stages.
ScreenModel make_part(const std::string& arch, int outputs, int shared) {
  if (arch == "densenet121") return std::make_shared<DenseNetImpl>(DenseNetOptions::densenet121(outputs));
  ResNetOptions o = ResNetOptions::resnet50(outputs, arch == "resnet50v1");
  o.first_stage = shared + 1;
  return std::make_shared<ResNetImpl>(o);
}

// x resized to side `size` when it has another (0 = keep).
torch::Tensor at_size(const torch::Tensor& x, int size) {
  if (size == 0 || (x.size(2) == size && x.size(3) == size)) return x;
  namespace F = nn::functional;
  return F::interpolate(
      x,
      F::InterpolateFuncOptions().size(std::vector<int64_t>{size, size}).mode(torch::kBilinear).align_corners(false));
}

}  // namespace

DeepCXRNetImpl::DeepCXRNetImpl(const ModelConfig& cfg) : cfg_(cfg) {
  cfg.validate();
  const auto& x = cfg.cxr;
  for (int i = 0; i < x.part1_outputs; ++i) select_.push_back(i);
  if (!x.part1_select.empty()) select_.assign(x.part1_select.begin(), x.part1_select.end());
  map_channels_ = backbones().get(cfg.backbone).channels;
  part1_ = register_module("part1", make_part(x.part_arch, x.part1_outputs, x.shared_stages));
  part2_ = register_module("part2", make_part(x.part_arch, x.part2_outputs, x.shared_stages));
  part3_ = register_module("part3", DeepCTNet(trunk_config(cfg)));
  const int64_t concat = x.trunk_features + static_cast<int64_t>(select_.size()) + x.part2_outputs;
  fc1_ = register_module("fc1", nn::Linear(concat, x.head_hidden));
  fc2_ = register_module("fc2", nn::Linear(x.head_hidden, 1));
  freeze(*part1_);
  freeze(*part2_);
  for (auto& m : trunk_modules()) freeze(*m);
}

std::vector<std::shared_ptr<nn::Module>> DeepCXRNetImpl::trunk_modules() const {
  std::vector<std::shared_ptr<nn::Module>> out;
  if (cfg_.cxr.shared_stages == 0) return out;
  const ResNetImpl& bb = resnet_backbone();
  for (int s = 0; s <= cfg_.cxr.shared_stages; ++s)
    for (auto& m : bb.stage_modules(s)) out.push_back(m);
  return out;
}

void DeepCXRNetImpl::train(bool on) {
  ScreenModelImpl::train(on);
  part1_->eval();
  part2_->eval();
  for (auto& m : trunk_modules()) m->eval();
}

ResNetImpl& DeepCXRNetImpl::resnet_backbone() const { return dynamic_cast<ResNetImpl&>(part3_->backbone()); }

torch::Tensor DeepCXRNetImpl::trunk(const torch::Tensor& x) {
  if (cfg_.cxr.shared_stages == 0) return x;
  torch::NoGradGuard no_grad;  // frozen: nothing upstream of it learns
  return resnet_backbone().run(x, 0, cfg_.cxr.shared_stages);
}

torch::Tensor DeepCXRNetImpl::parts_on(const torch::Tensor& t) {
  torch::NoGradGuard no_grad;
  const auto idx = torch::tensor(select_, torch::kLong).to(t.device());
  const auto p1 = torch::sigmoid(part1_->forward(at_size(t, cfg_.cxr.part1_input_size))).index_select(1, idx);
  const auto p2 = torch::sigmoid(part2_->forward(at_size(t, cfg_.cxr.part2_input_size)));
  return torch::cat({p1.to(torch::kFloat), p2.to(torch::kFloat)}, 1);
}

torch::Tensor DeepCXRNetImpl::features(const torch::Tensor& x) {
  const int shared = cfg_.cxr.shared_stages;
  const torch::Tensor t = trunk(x);
  const torch::Tensor map = shared == 0 ? part3_->features(x) : part3_->attend(resnet_backbone().run(t, shared + 1, 4));
  const torch::Tensor aux = parts_on(t).to(map.scalar_type());
  const auto b = map.size(0), h = map.size(2), w = map.size(3);
  return torch::cat({map, aux.view({b, aux.size(1), 1, 1}).expand({b, aux.size(1), h, w})}, 1);
}

torch::Tensor DeepCXRNetImpl::classify(const torch::Tensor& f) {
  if (f.dim() != 4 || f.size(1) <= map_channels_)
    throw Error("deep-cxr-net: classify() needs features() output [B, C + F, h, w]");
  const torch::Tensor map = f.narrow(1, 0, map_channels_);
  const torch::Tensor aux = f.narrow(1, map_channels_, f.size(1) - map_channels_).select(3, 0).select(2, 0);
  const torch::Tensor t = part3_->classify(map);
  const torch::Tensor z = fc2_->forward(torch::relu(fc1_->forward(torch::cat({t, aux.to(t.scalar_type())}, 1))));
  return cfg_.cxr.positive_index == 0 ? torch::cat({z, -z}, 1) : torch::cat({-z, z}, 1);
}

std::vector<std::pair<std::string, int64_t>> DeepCXRNetImpl::part_sizes() const {
  std::vector<std::pair<std::string, int64_t>> out{{"part1 (frozen)", count_parameters(*part1_)},
                                                   {"part2 (frozen)", count_parameters(*part2_)}};
  int64_t shared = 0;
  for (const auto& m : trunk_modules()) shared += count_parameters(*m);
  if (shared > 0) out.emplace_back("shared trunk (frozen)", shared);
  for (const auto& [name, n] : part3_->part_sizes())  // the trunk is counted once, above
    out.emplace_back("part3 " + name, name == "backbone" ? n - shared : n);
  out.emplace_back("head", count_parameters(*fc1_) + count_parameters(*fc2_));
  return out;
}

nn::Module& DeepCXRNetImpl::part(int which) {
  if (which != 1 && which != 2) throw UsageError("deep-cxr-net: part must be 1 or 2");
  return which == 1 ? static_cast<nn::Module&>(*part1_) : static_cast<nn::Module&>(*part2_);
}

void DeepCXRNetImpl::set_part(int which, nn::Module& trained) {
  nn::Module& dst = part(which);
  torch::NoGradGuard no_grad;
  auto src_p = trained.named_parameters(true);
  auto src_b = trained.named_buffers(true);
  for (auto& p : dst.named_parameters(true)) {
    const torch::Tensor* s = src_p.find(p.key());
    if (!s || s->sizes() != p.value().sizes())
      throw UsageError("deep-cxr-net: part " + std::to_string(which) + " has no tensor '" + p.key() + "' of shape " +
                       c10::str(p.value().sizes()) + " in the given model");
    p.value().copy_(*s);
  }
  for (auto& b : dst.named_buffers(true)) {
    const torch::Tensor* s = src_b.find(b.key());
    if (!s || s->sizes() != b.value().sizes())
      throw UsageError("deep-cxr-net: part " + std::to_string(which) + " has no buffer '" + b.key() + "'");
    b.value().copy_(*s);
  }
  freeze(dst);
}

}  // namespace covscreen
