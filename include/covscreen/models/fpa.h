#pragma once
// Feature Pyramid Attention (FPA) of PAN (Li et al. 2018, "Pyramid Attention Network for
// Semantic Segmentation", section 3.2), as Deep-CT-Net uses it on the last backbone map.
//
//   x [B, C, h, w]
//   main    = conv1x1(C->C)(x)                                   "main"
//   global  = conv1x1(C->C)(global_avg_pool(x)), broadcast to h x w   "global"
//   d1 = relu(conv7x7(C->m)(maxpool2(x)))     l1 = conv7x7(m->m)(d1)   "down1", "lat1"
//   d2 = relu(conv5x5(m->m)(maxpool2(d1)))    l2 = conv5x5(m->m)(d2)   "down2", "lat2"
//   d3 = relu(conv3x3(m->m)(maxpool2(d2)))    l3 = conv3x3(m->m)(d3)   "down3", "lat3"
//   u2 = l2 + up(l3);  u1 = l1 + up(u2);  att = up_to(h x w)(conv1x1(m->C)(u1))   "proj"
//   out = main * att + global                                     [B, C, h, w]
// up = bilinear (align_corners false); maxpool2 = 2x2/2 with ceil mode, so a 1x1 map stays 1x1.
//
// No batch norm anywhere in the module (every conv has a bias). On Deep-CT-Net's 8x8 map
// (256x256 input) the pyramid bottoms out at 4x4, 2x2, 1x1 and the global branch is 1x1 by
// construction; BatchNorm there has one value per channel at batch size 1 and throws in
// training. Rather than BN on some levels only (which would depend on the input size), the
// module has none, and Deep-CT-Net's own BatchNorm right after the FPA normalizes its output.
//
// Parameters with C = 1024, m = 64 (defaults): main 1,049,600; global 1,049,600;
//   down1 3,211,328; lat1 200,768; down2/lat2 102,464 each; down3/lat3 36,928 each;
//   proj 66,560; total 5,856,640. (PAN's usual m = C/4 = 256 would be ~29M.)
#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/types.h>

namespace covscreen {

class FeaturePyramidAttentionImpl : public torch::nn::Module {
 public:
  FeaturePyramidAttentionImpl(int channels, int mid_channels);
  torch::Tensor forward(const torch::Tensor& x);  // [B, C, h, w] -> [B, C, h, w]

 private:
  torch::nn::Conv2d main_{nullptr}, global_{nullptr};
  torch::nn::Conv2d down1_{nullptr}, down2_{nullptr}, down3_{nullptr};
  torch::nn::Conv2d lat1_{nullptr}, lat2_{nullptr}, lat3_{nullptr};
  torch::nn::Conv2d proj_{nullptr};
};
TORCH_MODULE(FeaturePyramidAttention);

}  // namespace covscreen
