#include "covscreen/train/inference.h"

#include <fstream>
#include <string>

#include <torch/cuda.h>
#include <torch/torch.h>

#include "covscreen/core/compat.h"
#include "covscreen/core/error.h"
#include "covscreen/core/progress.h"

namespace covscreen {

torch::Device resolve_device(const std::string& name) {
  if (name == "cpu") return torch::kCPU;
  if (name == "cuda") {
    if (!torch::cuda::is_available()) throw UsageError("device cuda requested but no CUDA device is available");
    return torch::kCUDA;
  }
  if (name == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  throw UsageError("device must be auto, cpu or cuda (got '" + name + "')");
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

std::string resolve_precision(const std::string& precision, const torch::Device& device) {
  if (precision == "fp32" || precision == "bf16") return precision;
  if (precision == "fp16") {
    if (!device.is_cuda()) throw UsageError("precision fp16 needs a CUDA device (use bf16 or fp32 on the CPU)");
    return precision;
  }
  if (precision == "auto") return (device.is_cuda() || cpu_has_bf16()) ? "bf16" : "fp32";
  throw UsageError("precision must be auto, fp32, bf16 or fp16 (got '" + precision + "')");
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
  const std::string precision = resolve_precision(opt.precision, device);
  // Only when needed: the Screener's workers call this concurrently on one shared model, and
  // Module::to / eval() rewrite every parameter and flag even when nothing changes.
  const auto params = net.parameters();
  if (!params.empty() && params.front().device() != device) net.to(device);
  if (net.is_training()) net.eval();
  c10::InferenceMode guard;
  compat::AutocastGuard autocast(device.type(), precision != "fp32",
                                 precision == "fp16" ? torch::kHalf : torch::kBFloat16);
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
