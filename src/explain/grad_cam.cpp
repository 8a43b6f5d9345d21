#include "covscreen/explain/grad_cam.h"

#include <ATen/autocast_mode.h>
#include <c10/core/InferenceMode.h>
#include <torch/autograd.h>
#include <torch/nn/functional/upsampling.h>
#include <torch/version.h>

#include <optional>
#include <vector>

#include "covscreen/core/error.h"

namespace covscreen {
namespace {

// Puts the model in eval mode and fp32 for the call; restores every module's training flag and
// the weights' dtype afterwards (also when an exception leaves the call). A model already in eval
// mode and fp32 is not touched at all, so threads that share it (screen/pipeline.h) may run CAMs
// and inference on it at the same time.
class ModelStateGuard {
 public:
  explicit ModelStateGuard(ScreenModelImpl& net) : net_(net) {
    for (const auto& m : net_.modules(/*include_self=*/true)) {
      flags_.push_back(m->is_training());
      training_ = training_ || flags_.back();
    }
    for (const auto& p : net_.parameters()) {
      if (p.is_floating_point() && p.scalar_type() != torch::kFloat) {
        dtype_ = p.scalar_type();
        break;
      }
    }
    if (training_) net_.eval();
    if (dtype_) net_.to(torch::kFloat);
  }
  ~ModelStateGuard() {
    if (!training_ && !dtype_) return;
    try {
      if (dtype_) net_.to(*dtype_);
      // modules() is pre-order, so each child's own call overrides its parent's recursive one.
      auto mods = net_.modules(/*include_self=*/true);
      for (size_t i = 0; i < mods.size() && i < flags_.size(); ++i) mods[i]->train(flags_[i]);
    } catch (...) {
    }
  }
  ModelStateGuard(const ModelStateGuard&) = delete;
  ModelStateGuard& operator=(const ModelStateGuard&) = delete;

 private:
  ScreenModelImpl& net_;
  std::vector<bool> flags_;
  bool training_ = false;
  std::optional<torch::ScalarType> dtype_;
};

// Autocast off (CPU and CUDA) for the scope, restored afterwards: the CAM runs in fp32 even
// when the caller runs inference under bf16 autocast.
class AutocastOff {
 public:
  AutocastOff() : cpu_(get(c10::DeviceType::CPU)), cuda_(get(c10::DeviceType::CUDA)) {
    if (cpu_) set(c10::DeviceType::CPU, false);
    if (cuda_) set(c10::DeviceType::CUDA, false);
  }
  ~AutocastOff() {
    if (cpu_) set(c10::DeviceType::CPU, true);
    if (cuda_) set(c10::DeviceType::CUDA, true);
  }
  AutocastOff(const AutocastOff&) = delete;
  AutocastOff& operator=(const AutocastOff&) = delete;

 private:
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  static bool get(c10::DeviceType d) { return at::autocast::is_autocast_enabled(d); }
  static void set(c10::DeviceType d, bool on) { at::autocast::set_autocast_enabled(d, on); }
#else
  static bool get(c10::DeviceType d) {
    return d == c10::DeviceType::CPU ? at::autocast::is_cpu_enabled() : at::autocast::is_enabled();
  }
  static void set(c10::DeviceType d, bool on) {
    if (d == c10::DeviceType::CPU) {
      at::autocast::set_cpu_enabled(on);
    } else {
      at::autocast::set_enabled(on);
    }
  }
#endif
  bool cpu_, cuda_;
};

torch::Device model_device(ScreenModelImpl& net, const torch::Tensor& fallback) {
  for (const auto& p : net.parameters()) return p.device();
  for (const auto& b : net.buffers()) return b.device();
  return fallback.device();
}

}  // namespace

const EnumNames<CamMethod>& cam_method_names() {
  static const EnumNames<CamMethod> names{
      "cam method", {{CamMethod::kGradCam, "gradcam"}, {CamMethod::kGradCamPlusPlus, "gradcam++"}}};
  return names;
}

CamResult grad_cam(ScreenModelImpl& net, const torch::Tensor& x, const torch::Tensor& target, CamMethod method) {
  if (!x.defined() || x.dim() != 4)
    throw UsageError("grad_cam: input must be a [B, C, H, W] tensor, got " +
                     (x.defined() ? std::to_string(x.dim()) + " dimensions" : std::string("an undefined tensor")));
  const int64_t batch = x.size(0);
  if (!target.defined() || target.numel() != batch)
    throw UsageError("grad_cam: need one target class per image (" + std::to_string(batch) + "), got " +
                     std::to_string(target.defined() ? target.numel() : 0));

  // Leave inference mode / no-grad locally: the CAM needs autograd.
  c10::InferenceMode not_inference(false);
  torch::AutoGradMode grad_on(true);
  AutocastOff fp32;
  ModelStateGuard state(net);
  const torch::Device device = model_device(net, x);

  // clone(): an inference tensor from the caller becomes an ordinary one.
  const torch::Tensor input = x.to(device, torch::kFloat).clone();
  torch::Tensor feats;
  {
    torch::NoGradGuard no_grad;  // only the feature map needs a gradient
    feats = net.features(input);
  }
  if (!feats.defined() || feats.dim() != 4) throw Error("grad_cam: the model's features() must return [B, C, h, w]");
  torch::Tensor f = feats.to(torch::kFloat).detach().clone().requires_grad_(true);
  torch::Tensor logits = net.classify(f).to(torch::kFloat);
  if (logits.dim() != 2 || logits.size(0) != batch)
    throw Error("grad_cam: the model's classify() must return [B, K] logits");
  const int64_t num_classes = logits.size(1);

  const torch::Tensor tgt = target.to(torch::kCPU, torch::kLong).reshape({batch});
  const int64_t lo = batch > 0 ? tgt.min().item<int64_t>() : 0;
  const int64_t hi = batch > 0 ? tgt.max().item<int64_t>() : 0;
  if (lo < 0 || hi >= num_classes)
    throw UsageError("grad_cam: target class out of range [0, " + std::to_string(num_classes) + ")");

  // Images are independent in eval mode, so one backward of the summed scores gives every
  // image's own gradient.
  const torch::Tensor score = logits.gather(1, tgt.to(device).view({batch, 1})).sum();
  torch::Tensor g = torch::autograd::grad({score}, {f}, /*grad_outputs=*/{}, /*retain_graph=*/false,
                                          /*create_graph=*/false, /*allow_unused=*/true)[0];
  f = f.detach();
  if (!g.defined()) g = torch::zeros_like(f);  // the logits do not depend on the features
  g = g.detach();
  if (const int64_t c = net.cam_channels(); c > 0 && c < f.size(1)) {  // the spatial map only
    f = f.narrow(1, 0, c);
    g = g.narrow(1, 0, c);
  }

  torch::Tensor weights;
  if (method == CamMethod::kGradCam) {
    weights = g.mean({2, 3});
  } else {
    const torch::Tensor g2 = g.pow(2);
    const torch::Tensor g3 = g2 * g;
    const torch::Tensor sum_f = f.sum({2, 3}, /*keepdim=*/true);
    torch::Tensor denom = 2.0 * g2 + sum_f * g3;
    denom = torch::where(denom != 0, denom, torch::ones_like(denom));
    const torch::Tensor a = g2 / denom;
    weights = (a * torch::relu(g)).sum({2, 3});
  }
  torch::Tensor maps = torch::relu((weights.unsqueeze(-1).unsqueeze(-1) * f).sum(1));
  return CamResult{maps, weights, logits.detach(), f};
}

torch::Tensor upsample_maps(const torch::Tensor& maps, int64_t height, int64_t width) {
  if (!maps.defined() || maps.dim() != 3) throw UsageError("upsample_maps: maps must be [B, h, w]");
  if (height <= 0 || width <= 0) throw UsageError("upsample_maps: target size must be positive");
  namespace F = torch::nn::functional;
  return F::interpolate(maps.to(torch::kFloat).unsqueeze(1), F::InterpolateFuncOptions()
                                                                 .size(std::vector<int64_t>{height, width})
                                                                 .mode(torch::kBilinear)
                                                                 .align_corners(false))
      .squeeze(1);
}

torch::Tensor normalize_maps(const torch::Tensor& maps) {
  if (!maps.defined() || (maps.dim() != 2 && maps.dim() != 3))
    throw UsageError("normalize_maps: maps must be [B, h, w] or [h, w]");
  const bool single = maps.dim() == 2;
  torch::Tensor m = (single ? maps.unsqueeze(0) : maps).to(torch::kFloat);
  m = torch::nan_to_num(m, 0.0, 0.0, 0.0);
  const int64_t b = m.size(0);
  if (m.numel() == 0) return single ? m.squeeze(0) : m;
  const torch::Tensor flat = m.reshape({b, -1});
  const torch::Tensor lo = std::get<0>(flat.min(1)).view({b, 1, 1});
  const torch::Tensor hi = std::get<0>(flat.max(1)).view({b, 1, 1});
  const torch::Tensor range = hi - lo;
  const torch::Tensor scale = torch::max(lo.abs(), hi.abs());
  const torch::Tensor flat_map = range <= 1e-6 * scale;  // includes the all-zero map
  const torch::Tensor safe = torch::where(flat_map, torch::ones_like(range), range);
  torch::Tensor out = ((m - lo) / safe).clamp(0.0, 1.0);
  out = torch::where(flat_map, torch::zeros_like(out), out);
  return single ? out.squeeze(0) : out;
}

}  // namespace covscreen
