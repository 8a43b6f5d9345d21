#pragma once
// Stage 1 (deterministic, OpenCV): gray uint8 at original size -> [lung crop, when the spec asks:
// preprocess/lung_region.h] -> histogram equalization -> resize to spec.size x spec.size
// (INTER_AREA when shrinking, INTER_LINEAR when growing). See core/preprocess_spec.h for how this
// and stage 2 reproduce the paper's five steps.
//
//   Stage1Info info;
//   cv::Mat in = covscreen::stage1(gray, spec.stage1, &info);   // CV_8UC1 size x size
//   if (info.crop == LungCrop::kWholeImage) { ... no lungs found: the whole image was used ... }
#include <opencv2/core.hpp>

#include "covscreen/core/preprocess_spec.h"

namespace covscreen {

enum class LungCrop {
  kOff,         // the spec asks for no crop
  kLungs,       // cropped to the lungs
  kWholeImage,  // the spec asks for a crop, but no lungs were found: the whole image was used
};
const char* lung_crop_name(LungCrop c);  // "off" | "lungs" | "whole image (no lungs found)"

struct Stage1Info {
  LungCrop crop = LungCrop::kOff;
  cv::Rect region;            // the part of the input that was used (the whole input unless cropped)
  double lung_fraction = -1;  // lung share of the input, when the crop looked for lungs
};

cv::Mat stage1(const cv::Mat& gray8, const Stage1Spec& spec, Stage1Info* info = nullptr);

}  // namespace covscreen
