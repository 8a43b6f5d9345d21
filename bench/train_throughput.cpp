// Training throughput of a screening model on the CPU (or CUDA): images/s per optimizer step,
// stage 2 + forward + backward + Adam, on synthetic 256x256 stage-1 images.
// Usage: bench_train_throughput [--arch deep-ct-net] [--batch 16] [--threads 2] [--steps 6]
//                               [--warmup 2] [--amp none|bf16] [--device cpu|cuda] [--size 256]
// Prints one JSON object.
#include <chrono>
#include <cstring>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/cuda.h>
#include <torch/torch.h>

#include "covscreen/core/compat.h"
#include "covscreen/data/stage2.h"
#include "covscreen/models/model.h"
#include "covscreen/train/inference.h"

using namespace covscreen;

int main(int argc, char** argv) {
  std::string arch = "deep-ct-net", amp = "none", device_name = "cpu";
  int batch = 16, threads = 2, steps = 6, warmup = 2, size = 256;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--arch") arch = v;
    else if (k == "--batch") batch = std::stoi(v);
    else if (k == "--threads") threads = std::stoi(v);
    else if (k == "--steps") steps = std::stoi(v);
    else if (k == "--warmup") warmup = std::stoi(v);
    else if (k == "--amp") amp = v;
    else if (k == "--device") device_name = v;
    else if (k == "--size") size = std::stoi(v);
    else {
      std::cerr << "unknown option " << k << "\n";
      return 1;
    }
  }
  torch::set_num_threads(threads);
  const torch::Device device = resolve_device(device_name);
  torch::manual_seed(0);
  ModelConfig cfg;
  cfg.arch = arch;
  cfg.input_size = size;
  ScreenModel net = make_model(cfg);
  net->to(device);
  net->train();
  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(1e-5));
  Stage2 stage2(Stage2Spec{});
  auto gen = at::detail::createCPUGenerator(1);
  auto images = torch::randint(0, 256, {batch, size, size}, gen, torch::kUInt8);
  auto target = torch::one_hot(torch::randint(0, 2, {batch}, gen, torch::kLong), 2).to(torch::kFloat32).to(device);
  const bool use_amp = amp != "none";
  double seconds = 0;
  for (int s = 0; s < warmup + steps; ++s) {
    const auto t0 = std::chrono::steady_clock::now();
    auto x = stage2(images.to(device), true, &gen);
    if (device.is_cpu()) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
    torch::Tensor loss;
    {
      compat::AutocastGuard guard(device.type(), use_amp, amp == "fp16" ? torch::kHalf : torch::kBFloat16);
      loss = torch::binary_cross_entropy_with_logits(net->forward(x).to(torch::kFloat32), target);
    }
    opt.zero_grad();
    loss.backward();
    opt.step();
    if (device.is_cuda()) torch::cuda::synchronize();
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (s >= warmup) seconds += dt;
  }
  nlohmann::json out = {{"bench", "train_throughput"},
                        {"arch", arch},
                        {"batch", batch},
                        {"threads", threads},
                        {"amp", amp},
                        {"device", device.str()},
                        {"size", size},
                        {"steps", steps},
                        {"seconds", seconds},
                        {"images_per_s", steps * batch / seconds},
                        {"layout", device.is_cpu() ? "channels_last" : "nchw"}};
  std::cout << out.dump() << "\n";
  return 0;
}
