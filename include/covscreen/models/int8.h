#pragma once
// Post-training static int8 quantization of the backbones inside a screening model: ResNet-50s (a
// plain one, Deep-CT-Net's ResNet backbone, Deep-CXR-Net's shared trunk, its parts' tails and part 3's
// layer 4) and DenseNets (Deep-CT-Net's DenseNet-121 backbone, plain DenseNets, DenseNet parts). Run
// with LibTorch's quantized CPU operators (oneDNN engine), called through the operator dispatcher, so
// no FX and no second copy of oneDNN:
//   - weights: each batch norm that follows a convolution folded into it, then int8 with one scale
//     per output channel (symmetric, max |w| / 127);
//   - activations: uint8 with one scale and zero point per tensor, from the range (min, max) each
//     tensor took on calibration images;
//   - ResNet: convolution + BN + ReLU as one quantized::conv2d_relu, the residual add + ReLU as one
//     quantized::add_relu, max pooling in int8;
//   - DenseNet (BN and ReLU come before each convolution): those as quantized::batch_norm2d_relu, the
//     maps a dense block concatenates sharing one scale (concatenation is a copy), pooling in int8;
//   - a backbone's output dequantized to fp32.
// Everything else stays fp32: the pyramid attention, the heads and classifiers, the sigmoid.
// int8_parts() names both sides.
//
// Usage:
//   {
//     Int8Calibration cal(*ck.net);                      // every backbone observes its ranges
//     predict_probs(*ck.net, stage2, images, fp32_opt);  // fp32 passes over calibration images
//     form = cal.finish();                               // {"networks": {path: {point: [lo, hi]}}}
//   }                                                    // observers gone: fp32 again
//   attach_int8(*ck.net, form);                          // the backbones now run in int8
//   detach_int8(*ck.net);                                // back to fp32
// The form holds the activation ranges only: int8 weights are derived from the fp32 ones when it
// is attached (deterministically), so one checkpoint serves every precision, and Grad-CAM, which
// differentiates classify() only, keeps working on int8 features. Attach after the model's last
// weight change (the runners keep their own folded copies) and only for inference (no autograd).
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace torch::nn {
class Module;
}

namespace covscreen {

class ScreenModelImpl;
struct Checkpoint;
struct Int8Stages;  // one ResNet's stages, observed or in int8 (models/int8.cpp)

class Int8Calibration {
 public:
  // Throws UsageError naming the model's parts when it holds no backbone covscreen quantizes.
  explicit Int8Calibration(ScreenModelImpl& net);
  ~Int8Calibration();  // detaches the observers
  Int8Calibration(const Int8Calibration&) = delete;
  Int8Calibration& operator=(const Int8Calibration&) = delete;
  // The observed ranges as a form for attach_int8. Error when a network saw no input.
  nlohmann::json finish() const;

 private:
  struct Network {
    std::string path;  // in named_modules()
    torch::nn::Module* net;
    std::shared_ptr<Int8Stages> stages;
  };
  std::vector<Network> networks_;
};

// A form may keep stages in fp32: "fp32": {"part3.backbone": [4], "part1": "all"} (stage 0 = the stem,
// 1..4 = layer1..4; a network whose stages all stay fp32 runs its own modules; a DenseNet all or none). The
// quantize job sets it. Replaces the fp32 stages of every backbone in `net` by int8 ones. Throws Error when the form
// does not fit the model (a network or a point missing, another version) or this LibTorch has no oneDNN quantized
// engine; the model is left as it was.
void attach_int8(ScreenModelImpl& net, const nlohmann::json& form);
void detach_int8(ScreenModelImpl& net);
bool runs_int8(const ScreenModelImpl& net);  // some backbone of it has int8 stages attached
// {"int8": [module paths run in int8], "fp32": [module paths that stay fp32],
//  "int8_parameters": n, "fp32_parameters": m} with the form's fp32 stages (paths as in named_modules()).
nlohmann::json int8_parts(const ScreenModelImpl& net, const nlohmann::json& form = nlohmann::json::object());
// Whether a convolution of `net` runs in fp32 (outside the backbones running int8): Deep-CT-Net's
// pyramid attention does; a plain ResNet-50 or DenseNet in int8 does not.
bool fp32_convolutions_left(const ScreenModelImpl& net);
// Whether this LibTorch can run int8 here (the oneDNN quantized engine is built in).
bool int8_available();

// What `covscreen model quantize` keeps in a checkpoint, Checkpoint::extra["int8"]:
//   {"form": the attach_int8 form, "calibration": {source, images, hash}, "agreement": {..., "met"},
//    "parts": int8_parts, "command", "time"}  (evaluate/quantize.h)
const nlohmann::json* int8_record(const Checkpoint& ck);  // nullptr when it has none
// The record's agreement with fp32 was measured and met its bar (auto may then pick int8).
bool int8_agreed(const Checkpoint& ck);
// attach_int8 with the checkpoint's form; UsageError when it has none (saying how to make one).
void attach_int8(const Checkpoint& ck);

}  // namespace covscreen
