#pragma once
// Batched inference over stage-1 images: stage 2 (no augmentation) -> model -> sigmoid.
// Inference mode, eval-mode batch norm; bf16 autocast on request (CPU with AVX-512-BF16/AMX
// or CUDA). Probabilities are per-class sigmoids, as the model was trained with BCE on one-hot
// targets.
#include <string>

#include <torch/nn/module.h>
#include <torch/types.h>

#include "covscreen/data/stage2.h"
#include "covscreen/models/model.h"

namespace covscreen {

class Progress;

struct InferenceOptions {
  int batch_size = 16;
  std::string device = "auto";     // auto | cpu | cuda
  std::string precision = "auto";  // fp32 | bf16 | auto (bf16 where the CPU has native bf16, see cpu_has_bf16)
  bool channels_last = true;
};

torch::Device resolve_device(const std::string& name);  // "auto" -> cuda when available
bool cpu_has_bf16();                                      // AVX512-BF16 or AMX-BF16
// "auto" -> bf16 on CUDA or a CPU with native bf16, else fp32; fp16 only on CUDA.
std::string resolve_precision(const std::string& precision, const torch::Device& device);
// Converts the module's 4-D parameters (convolution weights) to channels-last (NHWC) in place,
// so oneDNN / cuDNN get NHWC weights for NHWC inputs instead of reordering them on every call.
void to_channels_last(torch::nn::Module& module);

// images: uint8 [N, H, W] -> float probabilities [N, K] on the CPU. The model is put in eval
// mode on the resolved device (call once per model: moving it is not free). Its weights keep
// their layout (callers that own the model, like the Screener, convert them once with
// to_channels_last; the trainer does not, so validation leaves training bit-for-bit unchanged).
torch::Tensor predict_probs(ScreenModelImpl& net, const Stage2& stage2, const torch::Tensor& images,
                            const InferenceOptions& opt, Progress* progress = nullptr);

}  // namespace covscreen
