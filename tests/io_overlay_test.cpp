// CAM overlays: size, channels, blend, colour bar, label box, and the 16-bit raw map.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "covscreen/core/error.h"
#include "covscreen/io/overlay.h"
#include "test_util.h"

namespace covscreen {
namespace {

cv::Mat gradient_picture(int w, int h) {
  cv::Mat g(h, w, CV_8UC1);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) g.at<uint8_t>(y, x) = static_cast<uint8_t>((x * 7 + y * 3) % 256);
  return g;
}

// A small map with a hot spot in its upper-left quarter.
cv::Mat hot_spot_map() {
  cv::Mat m(8, 8, CV_32FC1, cv::Scalar(0.0f));
  m.at<float>(2, 2) = 1.0f;
  m.at<float>(2, 3) = 0.5f;
  return m;
}

cv::Vec3b viridis(uint8_t v) {
  cv::Mat one(1, 1, CV_8UC1, cv::Scalar(v)), c;
  cv::applyColorMap(one, c, cv::COLORMAP_VIRIDIS);
  return c.at<cv::Vec3b>(0, 0);
}

TEST(Overlay, OriginalSizeThreeChannelsAcrossSizes) {
  for (const cv::Size sz : {cv::Size(200, 150), cv::Size(512, 512), cv::Size(2000, 1400), cv::Size(37, 23)}) {
    const cv::Mat pic = gradient_picture(sz.width, sz.height);
    const cv::Mat out = cam_overlay(pic, hot_spot_map(), "covid p=0.93");
    EXPECT_EQ(out.size(), sz);
    EXPECT_EQ(out.type(), CV_8UC3);
    const cv::Mat raw = cam_raw16(hot_spot_map(), sz);
    EXPECT_EQ(raw.size(), sz);
    EXPECT_EQ(raw.type(), CV_16UC1);
  }
}

TEST(Overlay, BlendIsAlphaMixOfPictureAndViridis) {
  const cv::Mat pic(300, 400, CV_8UC1, cv::Scalar(100));
  const cv::Mat map(30, 40, CV_32FC1, cv::Scalar(1.0f));
  OverlayOptions opt;
  opt.alpha = 0.45;
  opt.colour_bar = false;
  const cv::Mat out = cam_overlay(pic, map, "", opt);
  const cv::Vec3b top = viridis(255);
  const cv::Vec3b px = out.at<cv::Vec3b>(200, 150);
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(px[c], 0.55 * 100 + 0.45 * top[c], 1.0);
  // alpha = 0 leaves the picture.
  opt.alpha = 0.0;
  const cv::Mat plain = cam_overlay(pic, map, "", opt);
  EXPECT_EQ(plain.at<cv::Vec3b>(10, 10), cv::Vec3b(100, 100, 100));
  EXPECT_THROW(cam_overlay(pic, map, "", 1.5), UsageError);
}

TEST(Overlay, HotSpotLandsWhereTheMapSaysAfterResizing) {
  // The map's (row 2, col 2) cell of an 8x8 grid covers rows/cols [2/8, 3/8) of the picture.
  const cv::Mat pic(400, 800, CV_8UC1, cv::Scalar(0));
  OverlayOptions opt;
  opt.alpha = 1.0;
  opt.colour_bar = false;
  const cv::Mat out = cam_overlay(pic, hot_spot_map(), "", opt);
  const cv::Vec3b hot = out.at<cv::Vec3b>(125, 250);   // centre of the hot cell
  const cv::Vec3b cold = out.at<cv::Vec3b>(350, 700);  // far away
  EXPECT_EQ(cold, viridis(0));
  EXPECT_GT(hot[1], cold[1] + 100);  // viridis: green rises with the value
}

TEST(Overlay, ColourBarAndLabelAreDrawnInside) {
  const cv::Mat pic(400, 600, CV_8UC1, cv::Scalar(128));
  const cv::Mat map(10, 10, CV_32FC1, cv::Scalar(0.0f));
  OverlayOptions bare;
  bare.colour_bar = false;
  const cv::Mat without = cam_overlay(pic, map, "", bare);
  const cv::Mat with_bar = cam_overlay(pic, map, "", OverlayOptions{});
  const cv::Mat with_text = cam_overlay(pic, map, "covid p=0.93", bare);
  // The bar: near the right edge, vertically centred, top ~ viridis(1), bottom ~ viridis(0).
  cv::Mat diff;
  cv::absdiff(without, with_bar, diff);
  cv::Mat changed;
  cv::cvtColor(diff, changed, cv::COLOR_BGR2GRAY);
  const cv::Rect box = cv::boundingRect(changed > 0);
  ASSERT_GT(box.area(), 0);
  EXPECT_GT(box.x, 600 / 2);
  EXPECT_LE(box.x + box.width, 600);
  const int bar_x = 600 - 8 - 6;  // margin 2 % and bar width 3 % of the 400 px side: ~x in [580, 592)
  const cv::Vec3b top = with_bar.at<cv::Vec3b>(200 - 80 + 4, bar_x);
  const cv::Vec3b bottom = with_bar.at<cv::Vec3b>(200 + 80 - 4, bar_x);
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(top[c], viridis(255)[c], 25);
    EXPECT_NEAR(bottom[c], viridis(0)[c], 25);
  }
  // The label: a dark box with white text in the top-left corner.
  cv::absdiff(without, with_text, diff);
  cv::cvtColor(diff, changed, cv::COLOR_BGR2GRAY);
  const cv::Rect tbox = cv::boundingRect(changed > 0);
  EXPECT_LT(tbox.x, 30);
  EXPECT_LT(tbox.y, 30);
  EXPECT_GT(tbox.width, 60);
  EXPECT_LT(tbox.x + tbox.width, 600);
  cv::Mat gray_text;
  cv::cvtColor(with_text(tbox), gray_text, cv::COLOR_BGR2GRAY);
  double lo = 0, hi = 0;
  cv::minMaxLoc(gray_text, &lo, &hi);
  EXPECT_LT(lo, 40);   // the dark box
  EXPECT_GT(hi, 200);  // the white text
}

TEST(Overlay, TextScalesWithThePicture) {
  auto text_height = [](int side) {
    const cv::Mat pic(side, side, CV_8UC1, cv::Scalar(128));
    const cv::Mat map(4, 4, CV_32FC1, cv::Scalar(0.0f));
    OverlayOptions o;
    o.colour_bar = false;
    cv::Mat diff, g;
    cv::absdiff(cam_overlay(pic, map, "", o), cam_overlay(pic, map, "covid p=0.93", o), diff);
    cv::cvtColor(diff, g, cv::COLOR_BGR2GRAY);
    return cv::boundingRect(g > 0).height;
  };
  const int small = text_height(200), large = text_height(2000);
  EXPECT_GE(small, 10);         // legible at 200 px
  EXPECT_GT(large, 5 * small);  // scaled up with the picture
  EXPECT_LT(large, 2000 / 8);   // but still a corner label
}

TEST(Overlay, Raw16MapsUnitRangeToFullScale) {
  cv::Mat map(1, 3, CV_32FC1);
  map.at<float>(0) = 0.0f;
  map.at<float>(1) = 0.5f;
  map.at<float>(2) = 1.0f;
  const cv::Mat raw = cam_raw16(map, cv::Size(3, 1));
  EXPECT_EQ(raw.at<uint16_t>(0), 0);
  EXPECT_EQ(raw.at<uint16_t>(1), 32768);  // round(0.5 * 65535)
  EXPECT_EQ(raw.at<uint16_t>(2), 65535);
  cv::Mat weird(2, 2, CV_32FC1);
  weird.at<float>(0) = std::nanf("");
  weird.at<float>(1) = -3.0f;
  weird.at<float>(2) = 7.0f;
  weird.at<float>(3) = 0.25f;
  const cv::Mat r2 = cam_raw16(weird, cv::Size(2, 2));
  EXPECT_EQ(r2.at<uint16_t>(0), 0);
  EXPECT_EQ(r2.at<uint16_t>(1), 0);
  EXPECT_EQ(r2.at<uint16_t>(2), 65535);
  EXPECT_EQ(r2.at<uint16_t>(3), 16384);
}

TEST(Overlay, WritesBothPngsAtTheOriginalSize) {
  test::TempDir dir;
  const cv::Mat pic = gradient_picture(333, 211);
  const std::string out = dir.file("sub/folder");  // created on demand
  const CamFiles f = write_cam_files(out, "scan 01", pic, hot_spot_map(), "covid p=0.93");
  EXPECT_EQ(f.overlay, out + "/scan 01_cam.png");
  EXPECT_EQ(f.raw16, out + "/scan 01_cam16.png");
  const cv::Mat overlay = cv::imread(f.overlay, cv::IMREAD_UNCHANGED);
  ASSERT_FALSE(overlay.empty());
  EXPECT_EQ(overlay.size(), pic.size());
  EXPECT_EQ(overlay.type(), CV_8UC3);
  const cv::Mat raw = cv::imread(f.raw16, cv::IMREAD_UNCHANGED);
  ASSERT_FALSE(raw.empty());
  EXPECT_EQ(raw.size(), pic.size());
  EXPECT_EQ(raw.type(), CV_16UC1);
  double lo = 0, hi = 0;
  cv::minMaxLoc(raw, &lo, &hi);
  EXPECT_EQ(lo, 0.0);
  EXPECT_GT(hi, 60000.0);
  EXPECT_FALSE(test::fs::exists(f.overlay + ".tmp"));
}

TEST(Overlay, RejectsBadInputs) {
  test::TempDir dir;
  const cv::Mat pic = gradient_picture(20, 20);
  EXPECT_THROW(cam_overlay(cv::Mat(), hot_spot_map(), "x"), UsageError);
  EXPECT_THROW(cam_overlay(pic, cv::Mat(), "x"), UsageError);
  EXPECT_THROW(cam_overlay(pic, cv::Mat(4, 4, CV_8UC1, cv::Scalar(1)), "x"), UsageError);
  EXPECT_THROW(cam_overlay(cv::Mat(4, 4, CV_16UC1, cv::Scalar(1)), hot_spot_map(), "x"), UsageError);
  EXPECT_THROW(write_cam_files(dir.file("d"), "a/b", pic, hot_spot_map(), "x"), UsageError);
  // The output folder is a file.
  { std::ofstream(dir.file("plain")) << "x"; }
  EXPECT_THROW(write_cam_files(dir.file("plain"), "a", pic, hot_spot_map(), "x"), FileError);
}

}  // namespace
}  // namespace covscreen
