#pragma once
// The lung fields of a chest CT slice, found by classical image processing (no model): on the
// gray slice (lung window, air and lungs dark), Otsu's threshold separates air from tissue; after
// a small opening, the dark regions that are not the air around the body (a region reaching an
// image corner or three sides) are the lungs (plus the airways, a little bowel gas), each taken
// as its convex hull so that bright consolidation inside a lung stays inside the mask. Fast: the
// slice is analysed at most 128 px wide. Made for CT; on X-rays it finds the lungs only where the
// air around the body is darker than the lungs.
//
//   covscreen::LungRegion lr = covscreen::find_lungs(gray);   // CV_8UC1, any size
//   if (lr.fraction >= 0.02) { ... a slice through the lungs; lr.box bounds them ... }
#include <opencv2/core.hpp>

namespace covscreen {

// The lung share of a slice below which it counts as having no lungs (study rules' default, and
// evaluate's Grad-CAM share).
inline constexpr double kMinLungFraction = 0.02;

struct LungRegion {
  cv::Mat mask;         // CV_8UC1, the input's size, 255 inside the lungs
  cv::Rect box;         // bounding box of the mask (empty when none)
  double fraction = 0;  // lung pixels / all pixels
};

// Throws UsageError unless gray is a non-empty CV_8UC1 image.
LungRegion find_lungs(const cv::Mat& gray);

}  // namespace covscreen
