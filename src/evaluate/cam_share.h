#pragma once
// Private to src/evaluate: where a model looks. Per stage-1 image, the share of the Grad-CAM map
// of class `cls` inside the lung fields (preprocess/lung_region.h on the same image, with the finder of the
// model's lung crop, else the X-ray finder for Deep-CXR-Net and the CT one otherwise); NaN when no
// lungs are found there (fewer than kMinLungFraction of the pixels), -1 when the map is all zero
// (metrics::summarize_cam_share counts both apart).
#include <torch/types.h>

#include <vector>

#include "covscreen/models/checkpoint.h"

namespace covscreen {

class Progress;

// stage1: uint8 [N, S, S]. The model is used as it is (eval mode, its device).
std::vector<double> cam_lung_shares(const Checkpoint& ck, const torch::Tensor& stage1, int cls, Progress* progress);

}  // namespace covscreen
