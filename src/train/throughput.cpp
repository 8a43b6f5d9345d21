#include "covscreen/train/throughput.h"

#include <torch/cuda.h>
#include <torch/torch.h>

#include <chrono>

#include "covscreen/core/compat.h"
#include "covscreen/core/error.h"
#include "covscreen/data/stage2.h"
#include "covscreen/inference/inference.h"
#include "covscreen/train/fine_tune.h"

namespace covscreen {
namespace {

// Runs warmup + steps calls of `step`, timing the last `steps` (synchronizing CUDA).
template <class Step>
ThroughputResult timed(const std::string& what, const ThroughputOptions& opt, const torch::Device& device, Step step) {
  if (opt.batch < 1 || opt.steps < 1 || opt.warmup < 0) throw UsageError("throughput: batch and steps must be >= 1");
  double seconds = 0;
  for (int s = 0; s < opt.warmup + opt.steps; ++s) {
    const auto t0 = std::chrono::steady_clock::now();
    step();
    if (device.is_cuda()) torch::cuda::synchronize();
    if (s >= opt.warmup) seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  ThroughputResult r;
  r.what = what;
  r.options = opt;
  r.seconds = seconds;
  r.images_per_s = opt.steps * opt.batch / seconds;
  return r;
}

c10::ScalarType amp_dtype(Precision precision) {
  return precision == Precision::kFp16 ? torch::kHalf : torch::kBFloat16;
}

}  // namespace

void to_json(nlohmann::json& j, const ThroughputResult& r) {
  const auto& o = r.options;
  j = {{"what", r.what},
       {"device", o.device},
       {"precision", precision_names().name(o.precision)},
       {"layout", o.channels_last ? "channels_last" : "nchw"},
       {"batch", o.batch},
       {"size", o.size},
       {"steps", o.steps},
       {"warmup", o.warmup},
       {"threads", torch::get_num_threads()},
       {"seconds", r.seconds},
       {"images_per_s", r.images_per_s}};
  if (r.what == "train") {
    j["freeze"] = o.freeze;
    j["bn"] = bn_names().name(o.bn);
  }
}

ThroughputResult measure_training(const ModelConfig& cfg, ThroughputOptions opt) {
  const torch::Device device = resolve_device(opt.device);
  opt.device = device.is_cuda() ? DeviceKind::kCuda : DeviceKind::kCpu;
  opt.precision = resolve_precision(opt.precision, device);
  if (opt.precision == Precision::kInt8) opt.precision = Precision::kFp32;  // int8 is for inference only
  torch::manual_seed(opt.seed);
  ModelConfig c = cfg;
  c.input_size = opt.size;
  ScreenModel net = make_model(c);
  freeze_backbone(*net, c, opt.freeze);
  net->to(device);
  if (opt.channels_last) to_channels_last(*net);
  net->train();
  apply_bn_mode(*net, opt.bn);
  std::vector<torch::Tensor> trainable;
  for (const auto& p : net->parameters())
    if (p.requires_grad()) trainable.push_back(p);
  torch::optim::Adam adam(trainable, torch::optim::AdamOptions(1e-5));
  Stage2 stage2(Stage2Spec{});
  auto gen = at::detail::createCPUGenerator(opt.seed + 1);
  auto images = torch::randint(0, 256, {opt.batch, opt.size, opt.size}, gen, torch::kUInt8).to(device);
  auto target = torch::one_hot(torch::randint(0, c.num_classes, {opt.batch}, gen, torch::kLong), c.num_classes)
                    .to(torch::kFloat32)
                    .to(device);
  const bool amp = uses_autocast(opt.precision);
  return timed("train", opt, device, [&] {
    auto x = stage2(images, /*augment=*/true, &gen);
    if (opt.channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
    torch::Tensor loss;
    {
      compat::AutocastGuard guard(device.type(), amp, amp_dtype(opt.precision));
      loss = torch::binary_cross_entropy_with_logits(net->forward(x).to(torch::kFloat32), target);
    }
    adam.zero_grad();
    loss.backward();
    adam.step();
  });
}

ThroughputResult measure_inference(ScreenModelImpl& net, ThroughputOptions opt) {
  const torch::Device device = resolve_device(opt.device);
  opt.device = device.is_cuda() ? DeviceKind::kCuda : DeviceKind::kCpu;
  opt.precision = resolve_precision(opt.precision, device);
  net.to(device);
  if (opt.channels_last) to_channels_last(net);
  net.eval();
  Stage2 stage2(Stage2Spec{});
  auto gen = at::detail::createCPUGenerator(opt.seed + 1);
  auto images = torch::randint(0, 256, {opt.batch, opt.size, opt.size}, gen, torch::kUInt8).to(device);
  const bool amp = uses_autocast(opt.precision);
  return timed("inference", opt, device, [&] {
    c10::InferenceMode guard;
    compat::AutocastGuard autocast(device.type(), amp, amp_dtype(opt.precision));
    auto x = stage2(images, /*augment=*/false);
    if (opt.channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
    torch::sigmoid(net.forward(x).to(torch::kFloat32)).cpu();
  });
}

}  // namespace covscreen
