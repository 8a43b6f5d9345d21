#pragma once
// Batched inference over stage-1 images: stage 2 (no augmentation) -> model -> sigmoid.
// Inference mode, eval-mode batch norm; bf16 autocast on request (CPU with AVX-512-BF16/AMX
// or CUDA). Probabilities are per-class sigmoids, as the model was trained with BCE on one-hot
// targets.
#include <torch/nn/module.h>
#include <torch/types.h>

#include <string>

#include "covscreen/core/registry.h"
#include "covscreen/data/stage2.h"
#include "covscreen/models/model.h"
#include "covscreen/models/typicality.h"

namespace covscreen {

class Progress;

// Where and in which precision models run; parsed once from option text with these tables
// ("device: unknown value 'gpu' (valid: auto, cpu, cuda)").
enum class DeviceKind { kAuto, kCpu, kCuda };
// int8: the model's ResNets in int8 (models/int8.h), the rest fp32; CPU only, and only for a
// checkpoint that carries an int8 form (`covscreen model quantize`, evaluate/quantize.h).
enum class Precision { kAuto, kFp32, kBf16, kFp16, kInt8 };
const EnumNames<DeviceKind>& device_names();    // auto | cpu | cuda
const EnumNames<Precision>& precision_names();  // auto | fp32 | bf16 | fp16 | int8
void to_json(nlohmann::json& j, DeviceKind d);
void from_json(const nlohmann::json& j, DeviceKind& d);

struct InferenceOptions {
  int batch_size = 16;
  DeviceKind device = DeviceKind::kAuto;
  Precision precision = Precision::kAuto;  // auto: resolve_precision
  bool channels_last = true;
  // Test-time augmentation: P averaged over this many views of each image, the image itself and
  // tta_views - 1 fixed transforms drawn (seed kTtaSeed) from the model's own training
  // augmentation (stage 2's rotation, translation, zoom and gamma; never its synthetic marks), so
  // every view is one the model was trained on and an image's P does not depend on its batch.
  // 1 = off.
  int tta_views = 1;
};
inline constexpr uint64_t kTtaSeed = 20261201;
inline constexpr int kMaxTtaViews = 32;

torch::Device resolve_device(DeviceKind kind);  // auto -> cuda when available; cuda without one: UsageError
bool cpu_has_bf16();                            // AVX512-BF16 or AMX-BF16
bool cpu_has_vnni();                            // AVX512-VNNI or AVX-VNNI (int8 dot products)
// auto -> bf16 on CUDA or a CPU with native bf16; else int8 when `int8_agreed` (the model carries an
// int8 form whose measured agreement with fp32 met its bar: evaluate/quantize.h) and the CPU has
// VNNI; else fp32. fp16 only on CUDA, int8 only on the CPU (UsageError).
Precision resolve_precision(Precision precision, const torch::Device& device, bool int8_agreed = false);
// Whether a resolved precision runs under autocast (bf16, fp16); fp32 and int8 do not.
bool uses_autocast(Precision precision);
// Converts the module's 4-D parameters (convolution weights) to channels-last (NHWC) in place,
// so oneDNN / cuDNN get NHWC weights for NHWC inputs instead of reordering them on every call.
void to_channels_last(torch::nn::Module& module);

// images: uint8 [N, H, W] -> float probabilities [N, K] on the CPU (the mean over the TTA views). The model is put in
// eval mode on the resolved device only when it is not already there (moving it is not free, and the pipeline's workers
// share one model). Its weights keep their layout: whoever owns the model converts them once with to_channels_last (the
// pipeline, screen/pipeline.h, and the trainer, whose validation calls this between epochs and puts the model back in
// training mode itself).
// `pooled`: also the pooled features of each image itself (not of its TTA views), float [N, D] on the
// CPU, for typicality (models/typicality.h).
torch::Tensor predict_probs(ScreenModelImpl& net, const Stage2& stage2, const torch::Tensor& images,
                            const InferenceOptions& opt, Progress* progress = nullptr, torch::Tensor* pooled = nullptr);

// A model's typicality reference (models/typicality.h) from stage-1 images uint8 [N, H, W] it was
// trained on: their pooled features (predict_probs), then fit_typicality. `train` adds it to its
// checkpoints, `covscreen model typicality` to existing ones.
Typicality fit_typicality(ScreenModelImpl& net, const Stage2& stage2, const torch::Tensor& images,
                          const InferenceOptions& opt, const TypicalityOptions& typicality,
                          Progress* progress = nullptr);

}  // namespace covscreen
