#pragma once
// The lung fields of a chest CT slice or a chest X-ray, found by classical image processing (no
// model; the image is analysed at most 128 px wide, well under a millisecond). Each lung is taken
// as its convex hull, so that bright consolidation or effusion inside a lung stays inside.
//   CT (LungMethod::kCt; on the lung window of the HU for DICOM): Otsu's threshold separates air
//     from tissue; after a small opening, the dark regions that are not the air around the body
//     (a region reaching an image corner or three sides) are the lungs (plus the airways, a little
//     bowel gas).
//   X-ray (LungMethod::kXray): on the equalized, smoothed image, the side darker than Otsu's
//     threshold of the central part, cut off a band along the top and the sides (air above the
//     shoulders joins the apices there); per side of the midline, the largest tall dark region
//     centred in the chest; openings of growing size until both lungs are found.
//
//   covscreen::LungRegion lr = covscreen::find_lungs(gray);   // CV_8UC1, any size
//   if (lr.fraction >= covscreen::kMinLungFraction) { ... lungs; lr.box bounds them ... }
//   cv::Rect crop = covscreen::lung_crop_box(lr, gray.size(), 0.1);   // stage 1's crop
#include <opencv2/core.hpp>

#include "covscreen/core/preprocess_spec.h"

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
LungRegion find_lungs(const cv::Mat& gray, LungMethod method = LungMethod::kCt);

// The crop of LungCropSpec: a square around the centre of the lungs' box, its side the box's
// longer side grown by margin x that side on each end (shifted, then clipped, to stay inside an
// image of `size`).
// Empty when the region has no lungs.
cv::Rect lung_crop_box(const LungRegion& lungs, cv::Size size, double margin);

}  // namespace covscreen
