// Stage 1: the lung crop (when the spec asks), histogram equalization (cv::equalizeHist, the
// global 256-bin CDF mapping, of the crop) then a resize to spec.size x spec.size. Interpolation:
// INTER_AREA when the output has fewer pixels than the input (shrinking, anti-aliased),
// INTER_LINEAR otherwise (growing); same size: a copy.
#include "covscreen/preprocess/stage1.h"

#include <opencv2/imgproc.hpp>
#include <string>

#include "covscreen/core/error.h"
#include "covscreen/preprocess/lung_region.h"

namespace covscreen {

const char* lung_crop_name(LungCrop c) {
  switch (c) {
    case LungCrop::kLungs:
      return "lungs";
    case LungCrop::kWholeImage:
      return "whole image (no lungs found)";
    case LungCrop::kOff:
      break;
  }
  return "off";
}

cv::Mat stage1(const cv::Mat& gray8, const Stage1Spec& spec, Stage1Info* info) {
  if (gray8.empty() || gray8.type() != CV_8UC1)
    throw Error("stage1: expected a non-empty gray uint8 image (CV_8UC1), got type " + std::to_string(gray8.type()));
  if (spec.size <= 0) throw UsageError("stage1: size must be > 0, got " + std::to_string(spec.size));
  Stage1Info local;
  Stage1Info& in = info ? *info : local;
  in = Stage1Info{};
  in.region = cv::Rect(0, 0, gray8.cols, gray8.rows);
  cv::Mat src = gray8;
  if (spec.lungs.enabled) {
    LungRegion lungs = find_lungs(gray8, spec.lungs.method);
    if (spec.lungs.method == LungMethod::kXray && !lungs.box.empty()) {
      // A frontal film is centred on the chest: the box and its mirror image across the middle,
      // so that a crop keeps both lungs when only one was found.
      const cv::Rect& b = lungs.box;
      lungs.box |= cv::Rect(gray8.cols - b.x - b.width, b.y, b.width, b.height);
    }
    in.lung_fraction = lungs.fraction;
    in.crop = LungCrop::kWholeImage;
    if (lungs.fraction >= kMinLungFraction) {
      in.crop = LungCrop::kLungs;
      in.region = lung_crop_box(lungs, gray8.size(), spec.lungs.margin);
      src = gray8(in.region);
      if (spec.lungs.mask) {
        const int grow = 2 * int(spec.lungs.margin * std::max(lungs.box.width, lungs.box.height)) + 1;
        cv::Mat keep;
        cv::dilate(lungs.mask(in.region), keep, cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(grow, grow)));
        cv::Mat masked = cv::Mat::zeros(src.size(), CV_8UC1);
        src.copyTo(masked, keep);
        src = masked;
      }
    }
  }
  cv::Mat eq;
  if (spec.equalize) {
    cv::equalizeHist(src, eq);
  } else {
    eq = src;
  }
  const cv::Size out_size(spec.size, spec.size);
  if (eq.size() == out_size) return eq.clone();
  const bool shrinking = int64_t(spec.size) * spec.size < int64_t(eq.cols) * eq.rows;
  cv::Mat out;
  cv::resize(eq, out, out_size, 0, 0, shrinking ? cv::INTER_AREA : cv::INTER_LINEAR);
  return out;
}

}  // namespace covscreen
