#include "covscreen/inference/inference.h"

#include <torch/cuda.h>
#include <torch/torch.h>

#include <optional>
#include <string>

#include "covscreen/core/compat.h"
#include "covscreen/core/cpu.h"
#include "covscreen/core/error.h"
#include "covscreen/core/progress.h"
#include "covscreen/models/int8.h"
#include "covscreen/models/typicality.h"

namespace covscreen {

const EnumNames<DeviceKind>& device_names() {
  static const EnumNames<DeviceKind> names{
      "device", {{DeviceKind::kAuto, "auto"}, {DeviceKind::kCpu, "cpu"}, {DeviceKind::kCuda, "cuda"}}};
  return names;
}

const EnumNames<Precision>& precision_names() {
  static const EnumNames<Precision> names{"precision",
                                          {{Precision::kAuto, "auto"},
                                           {Precision::kFp32, "fp32"},
                                           {Precision::kBf16, "bf16"},
                                           {Precision::kFp16, "fp16"},
                                           {Precision::kInt8, "int8"}}};
  return names;
}

void to_json(nlohmann::json& j, DeviceKind d) { j = device_names().name(d); }
void from_json(const nlohmann::json& j, DeviceKind& d) { d = device_names().parse(j.get<std::string>()); }

torch::Device resolve_device(DeviceKind kind) {
  switch (kind) {
    case DeviceKind::kCpu:
      return torch::kCPU;
    case DeviceKind::kCuda:
      if (!torch::cuda::is_available()) throw UsageError("device cuda requested but no CUDA device is available");
      return torch::kCUDA;
    case DeviceKind::kAuto:
      break;
  }
  return torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
}

bool cpu_has_bf16() {
  static const bool has = cpu_has_flag({"avx512_bf16", "amx_bf16"});
  return has;
}

bool cpu_has_vnni() {
  static const bool has = cpu_has_flag({"avx512_vnni", "avx_vnni"});
  return has;
}

Precision resolve_precision(Precision precision, const torch::Device& device, bool int8_agreed) {
  if (precision == Precision::kFp16 && !device.is_cuda())
    throw UsageError("precision fp16 needs a CUDA device (use bf16 or fp32 on the CPU)");
  if (precision == Precision::kInt8 && device.is_cuda())
    throw UsageError("precision int8 runs on the CPU only (use bf16 or fp16 on CUDA)");
  if (precision != Precision::kAuto) return precision;
  if (device.is_cuda() || cpu_has_bf16()) return Precision::kBf16;
  return int8_agreed && cpu_has_vnni() ? Precision::kInt8 : Precision::kFp32;
}

bool uses_autocast(Precision precision) { return precision == Precision::kBf16 || precision == Precision::kFp16; }

void to_channels_last(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& p : module.parameters())
    if (p.dim() == 4 && !p.is_contiguous(torch::MemoryFormat::ChannelsLast))
      p.set_data(p.data().contiguous(torch::MemoryFormat::ChannelsLast));
}

torch::Tensor predict_probs(ScreenModelImpl& net, const Stage2& stage2, const torch::Tensor& images,
                            const InferenceOptions& opt, Progress* progress, torch::Tensor* pooled) {
  const torch::Device device = resolve_device(opt.device);
  const Precision precision = resolve_precision(opt.precision, device);
  // Only when needed: the pipeline's workers call this concurrently on one shared model, and
  // Module::to / eval() rewrite every parameter and flag even when nothing changes.
  const auto params = net.parameters();
  if (!params.empty() && params.front().device() != device) net.to(device);
  if (net.is_training()) net.eval();
  c10::InferenceMode guard;
  if (precision == Precision::kInt8 && !runs_int8(net))
    throw UsageError(
        "precision int8: the model has no int8 stages attached (a checkpoint made by `covscreen model "
        "quantize` runs in int8 through the screening pipeline)");
  compat::AutocastGuard autocast(device.type(), uses_autocast(precision),
                                 precision == Precision::kFp16 ? torch::kHalf : torch::kBFloat16);
  if (opt.tta_views < 1 || opt.tta_views > kMaxTtaViews)
    throw UsageError("tta: the number of views must be in [1, " + std::to_string(kMaxTtaViews) + "], got " +
                     std::to_string(opt.tta_views));
  // The TTA views: the training augmentation without its synthetic marks, with fixed draws.
  std::optional<Stage2> views;
  torch::Tensor draws;
  if (opt.tta_views > 1) {
    Stage2Spec view_spec = stage2.spec();
    view_spec.annotate_probability = view_spec.jpeg_probability = 0;
    views.emplace(view_spec);
    auto gen = at::detail::createCPUGenerator(kTtaSeed);
    draws = views->draw(opt.tta_views - 1, &gen);
  }
  // P of one view; with `feats`, also its pooled features (models/typicality.h).
  const auto run = [&](torch::Tensor x, std::vector<torch::Tensor>* feats) {
    if (opt.channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
    if (!feats) return torch::sigmoid(net.forward(x).to(torch::kFloat32));
    const torch::Tensor f = net.features(x);
    feats->push_back(pool_features(f).to(torch::kCPU));
    return torch::sigmoid(net.classify(f).to(torch::kFloat32));
  };
  const int64_t n = images.size(0);
  std::vector<torch::Tensor> out, feats;
  for (int64_t i = 0; i < n; i += opt.batch_size) {
    const int64_t b = std::min<int64_t>(opt.batch_size, n - i);
    const auto u8 = images.slice(0, i, i + b).to(device);
    auto p = run(stage2(u8, /*augment=*/false), pooled ? &feats : nullptr);
    for (int v = 1; v < opt.tta_views; ++v)
      p = p + run(views->augmented(u8, draws[v - 1].unsqueeze(0).expand({b, draws.size(1)})), nullptr);
    out.push_back((p / double(opt.tta_views)).to(torch::kCPU));
    if (progress) progress->advance(b);
  }
  if (pooled) *pooled = feats.empty() ? torch::empty({0, 0}) : torch::cat(feats);
  if (out.empty()) return torch::empty({0, 0});
  return torch::cat(out);
}

Typicality fit_typicality(ScreenModelImpl& net, const Stage2& stage2, const torch::Tensor& images,
                          const InferenceOptions& opt, const TypicalityOptions& typicality, Progress* progress) {
  torch::Tensor pooled;
  predict_probs(net, stage2, images, opt, progress, &pooled);
  return fit_typicality(pooled, typicality);
}

}  // namespace covscreen
