// Lung fields of a CT slice (preprocess/lung_region.h).
#include "covscreen/preprocess/lung_region.h"

#include <algorithm>
#include <opencv2/imgproc.hpp>

#include "covscreen/core/error.h"

namespace covscreen {

LungRegion find_lungs(const cv::Mat& gray) {
  if (gray.empty() || gray.type() != CV_8UC1) throw UsageError("find_lungs: expected a non-empty 8-bit gray image");
  constexpr int kSide = 128;
  const double scale = std::min(1.0, double(kSide) / std::max(gray.cols, gray.rows));
  cv::Mat small;
  if (scale < 1.0)
    cv::resize(gray, small, cv::Size(), scale, scale, cv::INTER_AREA);
  else
    small = gray;
  cv::Mat dark;
  cv::threshold(small, dark, 0, 255, cv::THRESH_BINARY_INV | cv::THRESH_OTSU);
  cv::morphologyEx(dark, dark, cv::MORPH_OPEN, cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(3, 3)));
  cv::Mat labels, stats, centroids;
  const int n = cv::connectedComponentsWithStats(dark, labels, stats, centroids, 8, CV_32S);
  const int min_area = std::max(4, int(0.002 * small.total()));
  std::vector<uint8_t> keep(size_t(n), 0);
  // The air around the body reaches the image's corners or three of its sides; lungs of a
  // figure cropped close to the chest may touch one or two sides, and are kept.
  std::vector<uint8_t> corner(size_t(n), 0);
  for (const cv::Point c : {cv::Point(0, 0), cv::Point(small.cols - 1, 0), cv::Point(0, small.rows - 1),
                            cv::Point(small.cols - 1, small.rows - 1)})
    corner[size_t(labels.at<int>(c))] = 1;
  for (int k = 1; k < n; ++k) {
    const int x = stats.at<int>(k, cv::CC_STAT_LEFT), y = stats.at<int>(k, cv::CC_STAT_TOP);
    const int w = stats.at<int>(k, cv::CC_STAT_WIDTH), h = stats.at<int>(k, cv::CC_STAT_HEIGHT);
    const int sides = (x == 0) + (y == 0) + (x + w == small.cols) + (y + h == small.rows);
    keep[size_t(k)] = !corner[size_t(k)] && sides < 3 && stats.at<int>(k, cv::CC_STAT_AREA) >= min_area;
  }
  // Each lung as its convex hull: consolidation and effusion are bright, and a lung field with
  // them is still lung (a mask that drops them would call a look at the disease "outside").
  cv::Mat lungs = cv::Mat::zeros(small.size(), CV_8UC1);
  for (int k = 1; k < n; ++k) {
    if (!keep[size_t(k)]) continue;
    std::vector<std::vector<cv::Point>> contours;
    cv::findContours(labels == k, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_SIMPLE);
    std::vector<cv::Point> all;
    for (const auto& c : contours) all.insert(all.end(), c.begin(), c.end());
    std::vector<cv::Point> hull;
    cv::convexHull(all, hull);
    cv::fillConvexPoly(lungs, hull, cv::Scalar(255));
  }
  LungRegion out;
  if (scale < 1.0)
    cv::resize(lungs, out.mask, gray.size(), 0, 0, cv::INTER_NEAREST);
  else
    out.mask = lungs;
  out.fraction = double(cv::countNonZero(lungs)) / double(lungs.total());
  if (out.fraction > 0) out.box = cv::boundingRect(out.mask);
  return out;
}

}  // namespace covscreen
