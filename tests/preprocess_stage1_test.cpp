// Stage 1 (histogram equalization + resize) against an independent reimplementation of OpenCV's
// documented formulas (python3-opencv is not installed here), plus a hand-computed golden case.
#include <cmath>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>

#include "covscreen/core/error.h"
#include "covscreen/data/source_marks.h"
#include "covscreen/preprocess/lung_region.h"
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

// A CT-like slice, 300 x 400, with the body and its two lungs in the upper left part.
cv::Mat off_centre_ct() {
  cv::Mat img(300, 400, CV_8UC1, cv::Scalar(15));                                             // air around the body
  cv::ellipse(img, {150, 120}, {120, 90}, 0, 0, 360, cv::Scalar(210), cv::FILLED);            // body
  cv::ellipse(img, {105, 120}, {30, 55}, 0, 0, 360, cv::Scalar(45), cv::FILLED);              // right lung
  cv::ellipse(img, {195, 120}, {30, 55}, 0, 0, 360, cv::Scalar(45), cv::FILLED);              // left lung
  cv::putText(img, "FIG. 3", {250, 280}, cv::FONT_HERSHEY_SIMPLEX, 1.0, cv::Scalar(255), 2);  // a caption
  return img;
}

TEST(Stage1LungCrop, CropsASquareAroundBothLungsThenEqualizesAndResizes) {
  const cv::Mat img = off_centre_ct();
  Stage1Spec spec;
  spec.size = 64;
  spec.lungs.enabled = true;
  Stage1Info info;
  const cv::Mat out = stage1(img, spec, &info);
  ASSERT_EQ(out.size(), cv::Size(64, 64));
  EXPECT_EQ(info.crop, LungCrop::kLungs);
  EXPECT_STREQ(lung_crop_name(info.crop), "lungs");
  EXPECT_GT(info.lung_fraction, 0.05);
  const cv::Rect r = info.region;
  EXPECT_EQ(r.width, r.height) << "square: no distortion at the resize";
  EXPECT_TRUE(r.contains({75, 120}) && r.contains({224, 120}) && r.contains({150, 66}) && r.contains({150, 174}))
      << "both lungs inside " << r;
  EXPECT_FALSE(r.contains({300, 270})) << "the caption is cut away: " << r;
  // Lungs span 75..225 (150 px): the square is 150 * 1.2 = 180 px, around their centre.
  EXPECT_NEAR(r.width, 180, 6);
  EXPECT_NEAR(r.x + r.width / 2.0, 150, 4);
  // The same as stage 1 without the crop, on the cropped region.
  Stage1Spec plain = spec;
  plain.lungs.enabled = false;
  EXPECT_EQ(cv::norm(out, stage1(img(r).clone(), plain), cv::NORM_INF), 0.0);
  // margin 0: the lungs' own box, made square.
  spec.lungs.margin = 0;
  stage1(img, spec, &info);
  EXPECT_NEAR(info.region.width, 150, 6);
}

TEST(Stage1LungCrop, NoLungsFallsBackToTheWholeImageAndSaysSo) {
  Stage1Spec spec;
  spec.size = 32;
  spec.lungs.enabled = true;
  const cv::Mat blank = random_gray(50, 60, 3);  // no dark fields inside a body
  Stage1Info info;
  const cv::Mat out = stage1(blank, spec, &info);
  EXPECT_EQ(info.crop, LungCrop::kWholeImage);
  EXPECT_EQ(std::string(lung_crop_name(info.crop)), "whole image (no lungs found)");
  EXPECT_EQ(info.region, cv::Rect(0, 0, 60, 50));
  Stage1Spec plain = spec;
  plain.lungs.enabled = false;
  EXPECT_EQ(cv::norm(out, stage1(blank, plain), cv::NORM_INF), 0.0);
  stage1(blank, plain, &info);
  EXPECT_EQ(info.crop, LungCrop::kOff);
  EXPECT_EQ(info.lung_fraction, -1);
}

TEST(Stage1LungCrop, MaskBlacksOutWhatIsNotLungOrMargin) {
  const cv::Mat img = off_centre_ct();
  Stage1Spec spec;
  spec.size = 90;
  spec.equalize = false;
  spec.lungs.enabled = true;
  spec.lungs.mask = true;
  spec.lungs.margin = 0.05;
  Stage1Info info;
  const cv::Mat out = stage1(img, spec, &info);
  ASSERT_EQ(info.crop, LungCrop::kLungs);
  EXPECT_EQ(out.at<uint8_t>(1, 1), 0) << "a corner of the square is outside the grown lungs";
  EXPECT_EQ(out.at<uint8_t>(45, 23), 45) << "a lung stays as it was";
}

TEST(LungCropBox, SquareInsideTheImageClippedWhereItCannotBe) {
  LungRegion lr;
  lr.box = cv::Rect(10, 40, 100, 50);  // wide, near the left edge
  const cv::Rect r = lung_crop_box(lr, {400, 300}, 0.1);
  EXPECT_EQ(r, cv::Rect(0, 5, 120, 120)) << "shifted right to stay inside";
  const cv::Rect narrow = lung_crop_box(lr, {130, 60}, 0.1);
  EXPECT_EQ(narrow, cv::Rect(0, 0, 120, 60)) << "clipped to the image's height";
  EXPECT_TRUE(lung_crop_box(LungRegion{}, {10, 10}, 0.1).empty());
}

TEST(PreprocessSpecJson, LungCropRoundTripsOldSpecsReadAsNoCropAndBadValuesAreRefused) {
  PreprocessSpec s;
  s.stage1.lungs.enabled = true;
  s.stage1.lungs.method = LungMethod::kXray;
  s.stage1.lungs.margin = 0.2;
  s.stage2.scale_fraction = 0.2;
  s.stage2.gamma_log = 0.3;
  s.stage2.annotate_probability = 0.5;
  s.stage2.jpeg_probability = 0.25;
  const nlohmann::json j = s;
  EXPECT_EQ(j["stage1"]["lungs"]["method"], "xray");
  const PreprocessSpec back = j.get<PreprocessSpec>();
  EXPECT_TRUE(back.stage1.lungs.enabled);
  EXPECT_EQ(back.stage1.lungs.method, LungMethod::kXray);
  EXPECT_EQ(back.stage1.lungs.margin, 0.2);
  EXPECT_EQ(back.stage2.scale_fraction, 0.2);
  EXPECT_EQ(back.stage2.gamma_log, 0.3);
  EXPECT_EQ(back.stage2.annotate_probability, 0.5);
  EXPECT_EQ(back.stage2.jpeg_probability, 0.25);
  // A spec written before the lung crop existed: no crop, no new augmentation.
  const auto old = nlohmann::json::parse(R"({"stage1":{"size":128,"equalize":true},"stage2":{"rotate_degrees":10}})")
                       .get<PreprocessSpec>();
  EXPECT_FALSE(old.stage1.lungs.enabled);
  EXPECT_EQ(old.stage2.scale_fraction, 0);
  EXPECT_EQ(old.stage2.annotate_probability, 0);
  EXPECT_EQ(old.stage2.jpeg_probability, 0);
  for (const char* key : {"annotate_probability", "jpeg_probability"}) {
    auto over = j;
    over["stage2"][key] = 1.5;
    EXPECT_THROW((void)over.get<PreprocessSpec>(), UsageError) << key;
  }
  auto bad = j;
  bad["stage1"]["lungs"]["method"] = "mri";
  try {
    (void)bad.get<PreprocessSpec>();
    ADD_FAILURE() << "an unknown lung method was accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("mri"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("ct, xray"), std::string::npos) << e.what();
  }
  bad = j;
  bad["stage1"]["lungs"]["version"] = 2;
  EXPECT_THROW((void)bad.get<PreprocessSpec>(), UsageError) << "a newer finder must not be run as version 1";
  bad = j;
  bad["stage1"]["lungs"]["margin"] = 1.5;
  EXPECT_THROW((void)bad.get<PreprocessSpec>(), UsageError);
}

TEST(Stage1LungCrop, TinyAndThinImagesWithEitherFinder) {
  for (const LungMethod method : {LungMethod::kCt, LungMethod::kXray})
    for (const cv::Size size :
         {cv::Size(1, 1), cv::Size(300, 1), cv::Size(1, 300), cv::Size(3, 2), cv::Size(2000, 9)}) {
      SCOPED_TRACE(std::to_string(size.width) + "x" + std::to_string(size.height));
      Stage1Spec spec;
      spec.size = 32;
      spec.lungs.enabled = true;
      spec.lungs.method = method;
      spec.lungs.mask = true;
      Stage1Info info;
      const cv::Mat out = stage1(random_gray(size.height, size.width, 5), spec, &info);
      EXPECT_EQ(out.size(), cv::Size(32, 32));
      EXPECT_NE(info.crop, LungCrop::kOff);
      EXPECT_TRUE((info.region & cv::Rect(0, 0, size.width, size.height)) == info.region) << info.region;
    }
}

TEST(Stage1LungCrop, XrayCropKeepsBothSidesWhenOneLungIsFound) {
  cv::Mat img(256, 256, CV_8UC1, cv::Scalar(25));
  cv::ellipse(img, {128, 300}, {200, 270}, 0, 0, 360, cv::Scalar(185), cv::FILLED);  // shoulders, body
  cv::ellipse(img, {84, 134}, {32, 66}, 0, 0, 360, cv::Scalar(70), cv::FILLED);      // one dark lung field
  cv::GaussianBlur(img, img, cv::Size(7, 7), 0);
  Stage1Spec spec;
  spec.size = 64;
  spec.lungs.enabled = true;
  spec.lungs.method = LungMethod::kXray;
  Stage1Info info;
  stage1(img, spec, &info);
  ASSERT_EQ(info.crop, LungCrop::kLungs);
  EXPECT_TRUE(info.region.contains({84, 134}) && info.region.contains({172, 134}) && info.region.contains({200, 134}))
      << "the other side, where the white-out lung is, stays in: " << info.region;
}

}  // namespace
// The JPEG re-compression of training (data/source_marks.h, torch ops) against a real JPEG
// codec: OpenCV's (libjpeg-turbo) at the same quality, on a picture with edges, gradients and
// noise. The codec's integer DCT rounds a little differently, so agreement is close, not exact.
TEST(SourceMarks, JpegRoundTripMatchesOpenCvsEncoder) {
  cv::Mat img(72, 100, CV_8UC1);  // not a multiple of 8 wide: partial blocks
  std::mt19937 rng(7);
  std::normal_distribution<double> noise(0, 6);
  for (int y = 0; y < img.rows; ++y)
    for (int x = 0; x < img.cols; ++x) {
      double v = 40 + 1.5 * x + (std::hypot(x - 60, y - 30) < 18 ? 90 : 0) + noise(rng);
      img.at<uint8_t>(y, x) = cv::saturate_cast<uint8_t>(v);
    }
  const auto t = torch::from_blob(img.data, {img.rows, img.cols}, torch::kUInt8).to(torch::kFloat32);
  for (int quality : {25, 50, 85}) {
    std::vector<uint8_t> buf;
    ASSERT_TRUE(cv::imencode(".jpg", img, buf, {cv::IMWRITE_JPEG_QUALITY, quality}));
    const cv::Mat dec = cv::imdecode(buf, cv::IMREAD_GRAYSCALE);
    const auto codec = torch::from_blob(dec.data, {dec.rows, dec.cols}, torch::kUInt8).to(torch::kFloat32);
    const auto ours = jpeg_roundtrip(t, quality);
    ASSERT_EQ(ours.sizes(), t.sizes());
    const double loss = (codec - t).abs().mean().item<double>(), gap = (ours - codec).abs().mean().item<double>();
    EXPECT_GT(loss, 1.5) << "quality " << quality << ": the codec should lose something";
    EXPECT_LT(gap, 0.25 * loss) << "quality " << quality << ": ours " << gap << " from the codec, which is " << loss
                                << " from the original";
  }
}

}  // namespace covscreen
