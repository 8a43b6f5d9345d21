#pragma once
// Stage 1 (deterministic, OpenCV): gray uint8 at original size -> histogram equalization ->
// resize to spec.size x spec.size (INTER_AREA when shrinking, INTER_LINEAR when growing).
// See core/preprocess_spec.h for how this and stage 2 reproduce the paper's five steps.
#include <opencv2/core.hpp>

#include "covscreen/core/preprocess_spec.h"

namespace covscreen {

cv::Mat stage1(const cv::Mat& gray8, const Stage1Spec& spec);

}  // namespace covscreen
