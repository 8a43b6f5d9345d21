// Stage 1 (histogram equalization + resize) against an independent reimplementation of OpenCV's
// documented formulas (python3-opencv is not installed here), plus a hand-computed golden case.
#include <cmath>
#include <opencv2/imgproc.hpp>
#include <random>

#include "covscreen/core/error.h"
#include "covscreen/preprocess/stage1.h"
#include "test_util.h"

namespace covscreen {
namespace {

// cv::equalizeHist as documented: H' = cumulative histogram from the first non-empty bin i0,
// lut[v] = round(255 * (H(v) - H(i0)) / (N - H(i0))); a constant image is left unchanged.
cv::Mat reference_equalize(const cv::Mat& src) {
  int hist[256] = {0};
  for (int y = 0; y < src.rows; ++y)
    for (int x = 0; x < src.cols; ++x) ++hist[src.at<uint8_t>(y, x)];
  int i0 = 0;
  while (!hist[i0]) ++i0;
  const int total = int(src.total());
  uint8_t lut[256];
  if (hist[i0] == total) return src.clone();
  long cum = 0;
  for (int v = 0; v < 256; ++v) {
    if (v > i0) cum += hist[v];
    lut[v] = uint8_t(std::lround(255.0 * cum / double(total - hist[i0])));
  }
  cv::Mat out(src.size(), CV_8UC1);
  for (int y = 0; y < src.rows; ++y)
    for (int x = 0; x < src.cols; ++x) out.at<uint8_t>(y, x) = lut[src.at<uint8_t>(y, x)];
  return out;
}

// Shrinking by an integer factor with INTER_AREA = the mean of each f x f block.
cv::Mat reference_area(const cv::Mat& src, int f) {
  cv::Mat out(src.rows / f, src.cols / f, CV_8UC1);
  for (int y = 0; y < out.rows; ++y)
    for (int x = 0; x < out.cols; ++x) {
      double s = 0;
      for (int dy = 0; dy < f; ++dy)
        for (int dx = 0; dx < f; ++dx) s += src.at<uint8_t>(y * f + dy, x * f + dx);
      out.at<uint8_t>(y, x) = uint8_t(std::lround(s / (f * f)));
    }
  return out;
}

// Growing with INTER_LINEAR: pixel centres aligned, src = (dst + 0.5) * scale - 0.5, edges clamped.
cv::Mat reference_linear(const cv::Mat& src, int size) {
  cv::Mat out(size, size, CV_8UC1);
  const double sy = double(src.rows) / size, sx = double(src.cols) / size;
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x) {
      const double fy = std::max(0.0, (y + 0.5) * sy - 0.5), fx = std::max(0.0, (x + 0.5) * sx - 0.5);
      const int y0 = std::min(int(fy), src.rows - 1), x0 = std::min(int(fx), src.cols - 1);
      const int y1 = std::min(y0 + 1, src.rows - 1), x1 = std::min(x0 + 1, src.cols - 1);
      const double wy = fy - y0, wx = fx - x0;
      const double v = (1 - wy) * ((1 - wx) * src.at<uint8_t>(y0, x0) + wx * src.at<uint8_t>(y0, x1)) +
                       wy * ((1 - wx) * src.at<uint8_t>(y1, x0) + wx * src.at<uint8_t>(y1, x1));
      out.at<uint8_t>(y, x) = uint8_t(std::lround(v));
    }
  return out;
}

cv::Mat random_gray(int rows, int cols, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0, 12);
  cv::Mat m(rows, cols, CV_8UC1);
  for (int y = 0; y < rows; ++y)
    for (int x = 0; x < cols; ++x)  // a low-contrast picture, so equalization has work to do
      m.at<uint8_t>(y, x) = cv::saturate_cast<uint8_t>(90 + 40.0 * x / cols + 20.0 * y / rows + noise(rng));
  return m;
}

TEST(Stage1, HandComputedGolden) {
  // Four bins of 4 pixels: 0, 50, 100, 200. H(i0)=4, N=16 -> 255 * {0, 4, 8, 12} / 12 = {0, 85, 170, 255}.
  const cv::Mat src = (cv::Mat_<uint8_t>(4, 4) << 0, 0, 0, 0, 50, 50, 50, 50, 100, 100, 100, 100, 200, 200, 200, 200);
  Stage1Spec spec;
  spec.size = 4;
  const cv::Mat out = stage1(src, spec);
  const cv::Mat expected =
      (cv::Mat_<uint8_t>(4, 4) << 0, 0, 0, 0, 85, 85, 85, 85, 170, 170, 170, 170, 255, 255, 255, 255);
  EXPECT_EQ(cv::norm(out, expected, cv::NORM_INF), 0.0);
  // 2x2 area shrink of the same: rows pair up -> {42.5 -> 42/43, 212.5 -> 212/213}.
  spec.size = 2;
  const cv::Mat small = stage1(src, spec);
  EXPECT_NEAR(small.at<uint8_t>(0, 0), 42.5, 0.5 + 1e-9);
  EXPECT_NEAR(small.at<uint8_t>(1, 1), 212.5, 0.5 + 1e-9);
}

TEST(Stage1, EqualizeThenShrinkMatchesReference) {
  const cv::Mat src = random_gray(96, 96, 11);
  Stage1Spec spec;
  spec.size = 32;  // factor 3
  const cv::Mat out = stage1(src, spec);
  ASSERT_EQ(out.type(), CV_8UC1);
  ASSERT_EQ(out.size(), cv::Size(32, 32));
  const cv::Mat expected = reference_area(reference_equalize(src), 3);
  EXPECT_LE(cv::norm(out, expected, cv::NORM_INF), 1.0);
  // The equalized image uses the whole range.
  double lo = 0, hi = 0;
  cv::minMaxLoc(reference_equalize(src), &lo, &hi);
  EXPECT_EQ(lo, 0.0);
  EXPECT_EQ(hi, 255.0);
}

TEST(Stage1, EqualizeThenGrowMatchesReference) {
  const cv::Mat src = random_gray(20, 20, 5);
  Stage1Spec spec;
  spec.size = 50;
  const cv::Mat out = stage1(src, spec);
  const cv::Mat expected = reference_linear(reference_equalize(src), 50);
  EXPECT_LE(cv::norm(out, expected, cv::NORM_INF), 1.0);
}

TEST(Stage1, EqualizeCanBeTurnedOff) {
  const cv::Mat src = random_gray(64, 64, 3);
  Stage1Spec spec;
  spec.size = 32;
  spec.equalize = false;
  EXPECT_LE(cv::norm(stage1(src, spec), reference_area(src, 2), cv::NORM_INF), 1.0);
  spec.size = 64;
  EXPECT_EQ(cv::norm(stage1(src, spec), src, cv::NORM_INF), 0.0);
}

TEST(Stage1, ConstantAndNonSquareInputs) {
  const cv::Mat flat(30, 40, CV_8UC1, cv::Scalar(77));
  Stage1Spec spec;
  spec.size = 16;
  const cv::Mat out = stage1(flat, spec);
  EXPECT_EQ(out.size(), cv::Size(16, 16));
  EXPECT_EQ(cv::norm(out, cv::Mat(16, 16, CV_8UC1, cv::Scalar(77)), cv::NORM_INF), 0.0);
  // Wide input: output is square, left half darker than the right half as in the input.
  cv::Mat wide(20, 100, CV_8UC1, cv::Scalar(10));
  wide.colRange(50, 100).setTo(200);
  const cv::Mat w = stage1(wide, spec);
  EXPECT_LT(cv::mean(w.colRange(0, 7))[0], cv::mean(w.colRange(9, 16))[0]);
}

TEST(Stage1, DefaultSizeIs256AndBadInputThrows) {
  const cv::Mat src = random_gray(300, 280, 1);
  EXPECT_EQ(stage1(src, Stage1Spec{}).size(), cv::Size(256, 256));
  EXPECT_THROW(stage1(cv::Mat(), Stage1Spec{}), Error);
  EXPECT_THROW(stage1(cv::Mat(8, 8, CV_8UC3), Stage1Spec{}), Error);
  Stage1Spec bad;
  bad.size = 0;
  EXPECT_THROW(stage1(src, bad), UsageError);
}

}  // namespace
}  // namespace covscreen
