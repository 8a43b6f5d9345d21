#include "covscreen/models/fpa.h"

#include <torch/nn/functional.h>

#include "covscreen/core/error.h"

namespace covscreen {

namespace nn = torch::nn;
namespace F = torch::nn::functional;

namespace {

nn::Conv2d conv(int in, int out, int k) { return nn::Conv2d(nn::Conv2dOptions(in, out, k).padding(k / 2)); }

torch::Tensor pool2(const torch::Tensor& x) {
  return F::max_pool2d(x, F::MaxPool2dFuncOptions(2).stride(2).ceil_mode(true));
}

torch::Tensor upsample_to(const torch::Tensor& x, const torch::Tensor& like) {
  if (x.size(2) == like.size(2) && x.size(3) == like.size(3)) return x;
  return F::interpolate(x, F::InterpolateFuncOptions()
                               .size(std::vector<int64_t>{like.size(2), like.size(3)})
                               .mode(torch::kBilinear)
                               .align_corners(false));
}

}  // namespace

FeaturePyramidAttentionImpl::FeaturePyramidAttentionImpl(int channels, int mid_channels) {
  if (channels <= 0 || mid_channels <= 0) throw UsageError("fpa: channel counts must be > 0");
  main_ = register_module("main", conv(channels, channels, 1));
  global_ = register_module("global", conv(channels, channels, 1));
  down1_ = register_module("down1", conv(channels, mid_channels, 7));
  lat1_ = register_module("lat1", conv(mid_channels, mid_channels, 7));
  down2_ = register_module("down2", conv(mid_channels, mid_channels, 5));
  lat2_ = register_module("lat2", conv(mid_channels, mid_channels, 5));
  down3_ = register_module("down3", conv(mid_channels, mid_channels, 3));
  lat3_ = register_module("lat3", conv(mid_channels, mid_channels, 3));
  proj_ = register_module("proj", conv(mid_channels, channels, 1));
}

torch::Tensor FeaturePyramidAttentionImpl::forward(const torch::Tensor& x) {
  auto main = main_->forward(x);
  auto global = global_->forward(F::adaptive_avg_pool2d(x, F::AdaptiveAvgPool2dFuncOptions(1)));
  auto d1 = torch::relu(down1_->forward(pool2(x)));
  auto d2 = torch::relu(down2_->forward(pool2(d1)));
  auto d3 = torch::relu(down3_->forward(pool2(d2)));
  auto u2 = lat2_->forward(d2) + upsample_to(lat3_->forward(d3), d2);
  auto u1 = lat1_->forward(d1) + upsample_to(u2, d1);
  auto att = upsample_to(proj_->forward(u1), x);
  return main * att + global;  // global [B, C, 1, 1] broadcasts over h x w
}

}  // namespace covscreen
