#include "covscreen/inference/inference.h"

#include <torch/cuda.h>
#include <torch/torch.h>

#include <fstream>
#include <string>

#include "covscreen/core/compat.h"
#include "covscreen/core/error.h"
#include "covscreen/core/progress.h"

namespace covscreen {

const EnumNames<DeviceKind>& device_names() {
  static const EnumNames<DeviceKind> names{
      "device", {{DeviceKind::kAuto, "auto"}, {DeviceKind::kCpu, "cpu"}, {DeviceKind::kCuda, "cuda"}}};
  return names;
}

const EnumNames<Precision>& precision_names() {
  static const EnumNames<Precision> names{
      "precision",
      {{Precision::kAuto, "auto"}, {Precision::kFp32, "fp32"}, {Precision::kBf16, "bf16"}, {Precision::kFp16, "fp16"}}};
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
  static const bool has = [] {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("flags", 0) == 0)
        return line.find(" avx512_bf16") != std::string::npos || line.find(" amx_bf16") != std::string::npos;
    return false;
  }();
  return has;
}

Precision resolve_precision(Precision precision, const torch::Device& device) {
  if (precision == Precision::kFp16 && !device.is_cuda())
    throw UsageError("precision fp16 needs a CUDA device (use bf16 or fp32 on the CPU)");
  if (precision != Precision::kAuto) return precision;
  return (device.is_cuda() || cpu_has_bf16()) ? Precision::kBf16 : Precision::kFp32;
}

void to_channels_last(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& p : module.parameters())
    if (p.dim() == 4 && !p.is_contiguous(torch::MemoryFormat::ChannelsLast))
      p.set_data(p.data().contiguous(torch::MemoryFormat::ChannelsLast));
}

torch::Tensor predict_probs(ScreenModelImpl& net, const Stage2& stage2, const torch::Tensor& images,
                            const InferenceOptions& opt, Progress* progress) {
  const torch::Device device = resolve_device(opt.device);
  const Precision precision = resolve_precision(opt.precision, device);
  // Only when needed: the pipeline's workers call this concurrently on one shared model, and
  // Module::to / eval() rewrite every parameter and flag even when nothing changes.
  const auto params = net.parameters();
  if (!params.empty() && params.front().device() != device) net.to(device);
  if (net.is_training()) net.eval();
  c10::InferenceMode guard;
  compat::AutocastGuard autocast(device.type(), precision != Precision::kFp32,
                                 precision == Precision::kFp16 ? torch::kHalf : torch::kBFloat16);
  const int64_t n = images.size(0);
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < n; i += opt.batch_size) {
    const int64_t b = std::min<int64_t>(opt.batch_size, n - i);
    auto x = stage2(images.slice(0, i, i + b).to(device), /*augment=*/false);
    if (opt.channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
    out.push_back(torch::sigmoid(net.forward(x).to(torch::kFloat32)).to(torch::kCPU));
    if (progress) progress->advance(b);
  }
  if (out.empty()) return torch::empty({0, 0});
  return torch::cat(out);
}

}  // namespace covscreen
