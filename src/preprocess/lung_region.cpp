// Lung fields of a CT slice or a chest X-ray (preprocess/lung_region.h).
#include "covscreen/preprocess/lung_region.h"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "covscreen/core/error.h"

namespace covscreen {

namespace {
constexpr int kSide = 128;  // analysed at most this wide

cv::Mat shrink(const cv::Mat& gray, double* scale) {
  *scale = std::min(1.0, double(kSide) / std::max(gray.cols, gray.rows));
  if (*scale >= 1.0) return gray.clone();
  cv::Mat small;
  const cv::Size size(cvRound(gray.cols * *scale), cvRound(gray.rows * *scale));  // as OpenCV rounds
  if (size.width >= 1 && size.height >= 1)
    cv::resize(gray, small, cv::Size(), *scale, *scale, cv::INTER_AREA);
  else  // a thin strip: at least one pixel across
    cv::resize(gray, small, cv::Size(std::max(1, size.width), std::max(1, size.height)), 0, 0, cv::INTER_AREA);
  return small;
}

// Each chosen component of `labels` as its convex hull, filled.
cv::Mat hulls(const cv::Mat& labels, const std::vector<int>& chosen) {
  cv::Mat out = cv::Mat::zeros(labels.size(), CV_8UC1);
  for (const int k : chosen) {
    std::vector<std::vector<cv::Point>> contours;
    cv::findContours(labels == k, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_SIMPLE);
    std::vector<cv::Point> all;
    for (const auto& c : contours) all.insert(all.end(), c.begin(), c.end());
    std::vector<cv::Point> hull;
    cv::convexHull(all, hull);
    cv::fillConvexPoly(out, hull, cv::Scalar(255));
  }
  return out;
}

std::vector<uint8_t> corner_labels(const cv::Mat& labels, int n) {
  std::vector<uint8_t> corner(size_t(n), 0);
  for (const cv::Point c : {cv::Point(0, 0), cv::Point(labels.cols - 1, 0), cv::Point(0, labels.rows - 1),
                            cv::Point(labels.cols - 1, labels.rows - 1)})
    corner[size_t(labels.at<int>(c))] = 1;
  return corner;
}

int sides_touched(const cv::Mat& stats, int k, cv::Size size) {
  const int x = stats.at<int>(k, cv::CC_STAT_LEFT), y = stats.at<int>(k, cv::CC_STAT_TOP);
  const int w = stats.at<int>(k, cv::CC_STAT_WIDTH), h = stats.at<int>(k, cv::CC_STAT_HEIGHT);
  return (x == 0) + (y == 0) + (x + w == size.width) + (y + h == size.height);
}

cv::Mat ct_lungs(const cv::Mat& small) {
  cv::Mat dark;
  cv::threshold(small, dark, 0, 255, cv::THRESH_BINARY_INV | cv::THRESH_OTSU);
  cv::morphologyEx(dark, dark, cv::MORPH_OPEN, cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(3, 3)));
  cv::Mat labels, stats, centroids;
  const int n = cv::connectedComponentsWithStats(dark, labels, stats, centroids, 8, CV_32S);
  const int min_area = std::max(4, int(0.002 * small.total()));
  // The air around the body reaches the image's corners or three of its sides; lungs of a
  // figure cropped close to the chest may touch one or two sides, and are kept.
  const std::vector<uint8_t> corner = corner_labels(labels, n);
  std::vector<int> chosen;
  for (int k = 1; k < n; ++k)
    if (!corner[size_t(k)] && sides_touched(stats, k, small.size()) < 3 &&
        stats.at<int>(k, cv::CC_STAT_AREA) >= min_area)
      chosen.push_back(k);
  return hulls(labels, chosen);
}

cv::Mat xray_lungs(cv::Mat small) {
  cv::equalizeHist(small, small);
  cv::GaussianBlur(small, small, cv::Size(5, 5), 0);
  const int w = small.cols, h = small.rows;
  cv::Mat unused;
  const double t = cv::threshold(small(cv::Rect(w / 8, h / 8, w - w / 4, h - h / 4)), unused, 0, 255,
                                 cv::THRESH_BINARY | cv::THRESH_OTSU);
  cv::Mat dark = small <= t;
  dark.rowRange(0, h / 10).setTo(0);
  dark.colRange(0, w / 25).setTo(0);
  dark.colRange(w - w / 25, w).setTo(0);
  cv::Mat best;
  size_t best_n = 0;
  for (const int k : {3, 5, 7, 9, 11}) {
    cv::Mat d, labels, stats, centroids;
    cv::morphologyEx(dark, d, cv::MORPH_OPEN, cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(k, k)));
    const int n = cv::connectedComponentsWithStats(d, labels, stats, centroids, 8, CV_32S);
    const std::vector<uint8_t> corner = corner_labels(labels, n);
    int side[2] = {-1, -1};  // the largest candidate left and right of the midline
    for (int c = 1; c < n; ++c) {
      const double cx = centroids.at<double>(c, 0) / w, cy = centroids.at<double>(c, 1) / h;
      const int area = stats.at<int>(c, cv::CC_STAT_AREA);
      if (corner[size_t(c)] || sides_touched(stats, c, small.size()) >= 3 || area < 0.015 * w * h || cx < 0.1 ||
          cx > 0.9 || cy < 0.15 || cy > 0.85 || stats.at<int>(c, cv::CC_STAT_HEIGHT) < 0.2 * h)
        continue;  // not a lung field: air at the corners, too small, off-centre or flat
      int& s = side[cx < 0.5 ? 0 : 1];
      if (s < 0 || area > stats.at<int>(s, cv::CC_STAT_AREA)) s = c;
    }
    std::vector<int> chosen;
    for (const int s : side)
      if (s >= 0) chosen.push_back(s);
    if (chosen.size() > best_n) {
      best_n = chosen.size();
      best = hulls(labels, chosen);
    }
    if (best_n == 2) break;
  }
  return best_n ? best : cv::Mat::zeros(small.size(), CV_8UC1);
}
}  // namespace

LungRegion find_lungs(const cv::Mat& gray, LungMethod method) {
  if (gray.empty() || gray.type() != CV_8UC1) throw UsageError("find_lungs: expected a non-empty 8-bit gray image");
  double scale = 1.0;
  const cv::Mat small = shrink(gray, &scale);
  const cv::Mat lungs = method == LungMethod::kXray ? xray_lungs(small) : ct_lungs(small);
  LungRegion out;
  if (scale < 1.0)
    cv::resize(lungs, out.mask, gray.size(), 0, 0, cv::INTER_NEAREST);
  else
    out.mask = lungs;
  out.fraction = double(cv::countNonZero(lungs)) / double(lungs.total());
  if (out.fraction > 0) out.box = cv::boundingRect(out.mask);
  return out;
}

cv::Rect lung_crop_box(const LungRegion& lungs, cv::Size size, double margin) {
  if (lungs.box.empty()) return {};
  const cv::Rect& b = lungs.box;
  const double cx = b.x + b.width / 2.0, cy = b.y + b.height / 2.0;
  const double side = std::max(b.width, b.height) * (1.0 + 2.0 * margin);
  // Square, shifted to stay inside; clipped where the image is narrower than the square.
  const int w = std::min(size.width, int(std::lround(side))), h = std::min(size.height, int(std::lround(side)));
  const int x = std::clamp(int(std::lround(cx - w / 2.0)), 0, size.width - w);
  const int y = std::clamp(int(std::lround(cy - h / 2.0)), 0, size.height - h);
  return {x, y, w, h};
}

}  // namespace covscreen
