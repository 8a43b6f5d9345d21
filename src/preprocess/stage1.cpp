// Stage 1: histogram equalization (cv::equalizeHist, the global 256-bin CDF mapping) then a
// resize to spec.size x spec.size. Interpolation: INTER_AREA when the output has fewer pixels
// than the input (shrinking, anti-aliased), INTER_LINEAR otherwise (growing); same size: a copy.
#include "covscreen/preprocess/stage1.h"

#include <opencv2/imgproc.hpp>
#include <string>

#include "covscreen/core/error.h"

namespace covscreen {

cv::Mat stage1(const cv::Mat& gray8, const Stage1Spec& spec) {
  if (gray8.empty() || gray8.type() != CV_8UC1)
    throw Error("stage1: expected a non-empty gray uint8 image (CV_8UC1), got type " + std::to_string(gray8.type()));
  if (spec.size <= 0) throw UsageError("stage1: size must be > 0, got " + std::to_string(spec.size));
  cv::Mat eq;
  if (spec.equalize) {
    cv::equalizeHist(gray8, eq);
  } else {
    eq = gray8;
  }
  const cv::Size out_size(spec.size, spec.size);
  if (eq.size() == out_size) return eq.clone();
  const bool shrinking = int64_t(spec.size) * spec.size < int64_t(eq.cols) * eq.rows;
  cv::Mat out;
  cv::resize(eq, out, out_size, 0, 0, shrinking ? cv::INTER_AREA : cv::INTER_LINEAR);
  return out;
}

}  // namespace covscreen
