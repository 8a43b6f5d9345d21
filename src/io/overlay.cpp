#include "covscreen/io/overlay.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "covscreen/core/error.h"

namespace covscreen {
namespace {

namespace fs = std::filesystem;

constexpr int kColormap = cv::COLORMAP_VIRIDIS;  // perceptually uniform, colour-blind safe
constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;
const cv::Scalar kBoxColour(24, 24, 24);
const cv::Scalar kTextColour(255, 255, 255);

cv::Mat clip01(const cv::Mat& m) {
  cv::Mat out = cv::max(m, 0.0);
  return cv::min(out, 1.0);
}

// The map as CV_32FC1 at `size`, finite and clipped to [0, 1].
cv::Mat map_at(const cv::Mat& map01, const cv::Size& size) {
  if (map01.empty()) throw UsageError("CAM overlay: the map is empty");
  if (map01.channels() != 1 || (map01.depth() != CV_32F && map01.depth() != CV_64F))
    throw UsageError("CAM overlay: the map must be one-channel float (CV_32FC1 or CV_64FC1)");
  cv::Mat m;
  map01.convertTo(m, CV_32F);
  cv::patchNaNs(m, 0.0);
  m = clip01(m);  // also clips +-inf
  if (m.size() != size) {
    const bool shrink = m.cols > size.width || m.rows > size.height;
    cv::Mat r;
    cv::resize(m, r, size, 0, 0, shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
    m = clip01(r);
  }
  return m;
}

cv::Mat to_bgr(const cv::Mat& picture) {
  if (picture.empty()) throw UsageError("CAM overlay: the picture is empty");
  if (picture.depth() != CV_8U) throw UsageError("CAM overlay: the picture must be 8-bit");
  cv::Mat bgr;
  switch (picture.channels()) {
    case 1:
      cv::cvtColor(picture, bgr, cv::COLOR_GRAY2BGR);
      break;
    case 3:
      bgr = picture.clone();
      break;
    case 4:
      cv::cvtColor(picture, bgr, cv::COLOR_BGRA2BGR);
      break;
    default:
      throw UsageError("CAM overlay: the picture must have 1, 3 or 4 channels");
  }
  return bgr;
}

// Text on a dark box whose top-left corner is `corner`; returns the box.
cv::Rect draw_label(cv::Mat& img, const std::string& text, cv::Point corner, double scale, int thickness, int pad) {
  int baseline = 0;
  const cv::Size ts = cv::getTextSize(text, kFont, scale, thickness, &baseline);
  const cv::Rect box(corner.x, corner.y, ts.width + 2 * pad, ts.height + baseline + 2 * pad);
  cv::rectangle(img, box, kBoxColour, cv::FILLED);
  cv::putText(img, text, cv::Point(corner.x + pad, corner.y + pad + ts.height), kFont, scale, kTextColour, thickness,
              cv::LINE_AA);
  return box;
}

void draw_colour_bar(cv::Mat& img, double unit, int margin, double font_scale, int thickness) {
  const int bar_w = std::max(4, static_cast<int>(std::lround(3.0 * unit)));
  const int bar_h = static_cast<int>(std::lround(0.4 * img.rows));
  const cv::Rect bar(img.cols - margin - bar_w, (img.rows - bar_h) / 2, bar_w, bar_h);
  if (bar_h < 4 || bar.x < 0 || (bar & cv::Rect(0, 0, img.cols, img.rows)) != bar) return;  // too small to draw
  cv::Mat ramp(bar_h, 1, CV_8UC1);
  for (int r = 0; r < bar_h; ++r)
    ramp.at<uint8_t>(r) = cv::saturate_cast<uint8_t>(255.0 * (bar_h - 1 - r) / std::max(1, bar_h - 1));  // top = 1
  cv::Mat colours, wide;
  cv::applyColorMap(ramp, colours, kColormap);
  cv::resize(colours, wide, bar.size(), 0, 0, cv::INTER_NEAREST);
  wide.copyTo(img(bar));
  const int line = std::max(1, static_cast<int>(std::lround(0.3 * unit)));
  cv::rectangle(img, bar, kTextColour, line);

  // Ticks "1" (top) and "0" (bottom) left of the bar, each on a dark box.
  const double tick_scale = 0.8 * font_scale;
  int baseline = 0;
  const cv::Size ts = cv::getTextSize("0", kFont, tick_scale, thickness, &baseline);
  const int pad = std::max(1, static_cast<int>(std::lround(0.25 * ts.height)));
  const int box_w = ts.width + 2 * pad, box_h = ts.height + baseline + 2 * pad;
  const int x = bar.x - line - box_w - std::max(1, margin / 2);
  if (x < 0) return;
  draw_label(img, "1", cv::Point(x, std::max(0, bar.y - box_h / 2)), tick_scale, thickness, pad);
  draw_label(img, "0", cv::Point(x, std::min(img.rows - box_h, bar.y + bar.height - box_h / 2)), tick_scale, thickness,
             pad);
}

void write_png(const std::string& path, const cv::Mat& img) {
  std::vector<uint8_t> bytes;
  bool ok = false;
  try {
    ok = cv::imencode(".png", img, bytes);
  } catch (const cv::Exception& e) {
    throw FileError(path, std::string("cannot encode PNG: ") + e.what());
  }
  if (!ok) throw FileError(path, "cannot encode PNG");
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw FileError(path, "cannot open for writing");
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) {
      std::error_code ec;
      fs::remove(tmp, ec);
      throw FileError(path, "write failed (disk full?)");
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw FileError(path, "cannot rename the written file into place: " + ec.message());
  }
}

}  // namespace

cv::Mat cam_overlay(const cv::Mat& gray_original, const cv::Mat& map01, const std::string& label_text, double alpha) {
  OverlayOptions opt;
  opt.alpha = alpha;
  return cam_overlay(gray_original, map01, label_text, opt);
}

cv::Mat cam_overlay(const cv::Mat& gray_original, const cv::Mat& map01, const std::string& label_text,
                    const OverlayOptions& opt) {
  if (!(opt.alpha >= 0.0 && opt.alpha <= 1.0)) throw UsageError("CAM overlay: alpha must be in [0, 1]");
  const cv::Mat base = to_bgr(gray_original);
  const cv::Mat m = map_at(map01, base.size());
  cv::Mat m8, heat, out;
  m.convertTo(m8, CV_8U, 255.0);
  cv::applyColorMap(m8, heat, kColormap);
  cv::addWeighted(base, 1.0 - opt.alpha, heat, opt.alpha, 0.0, out);

  // Sizes in units of 1 % of the shorter side; the font's cap height is ~22 px at scale 1, so
  // this gives ~4 % of the shorter side and at least ~9 px.
  const double side = std::min(out.cols, out.rows);
  const double unit = side / 100.0;
  const int margin = std::max(2, static_cast<int>(std::lround(2.0 * unit)));
  double font_scale = std::max(0.4, side / 550.0);
  int thickness = std::max(1, static_cast<int>(std::lround(font_scale * 1.6)));

  if (opt.colour_bar) draw_colour_bar(out, unit, margin, font_scale, thickness);
  if (!label_text.empty()) {
    // Shrink the text to fit left of the colour bar's area.
    const int avail = out.cols - 2 * margin - std::max(4, static_cast<int>(std::lround(8.0 * unit)));
    int baseline = 0;
    const cv::Size ts = cv::getTextSize(label_text, kFont, font_scale, thickness, &baseline);
    const int pad0 = std::max(2, static_cast<int>(std::lround(0.35 * ts.height)));
    if (avail > 0 && ts.width + 2 * pad0 > avail) {
      font_scale *= static_cast<double>(avail) / (ts.width + 2 * pad0);
      thickness = std::max(1, static_cast<int>(std::lround(font_scale * 1.6)));
    }
    const cv::Size ts2 = cv::getTextSize(label_text, kFont, font_scale, thickness, &baseline);
    const int pad = std::max(2, static_cast<int>(std::lround(0.35 * ts2.height)));
    draw_label(out, label_text, cv::Point(margin, margin), font_scale, thickness, pad);
  }
  return out;
}

cv::Mat cam_raw16(const cv::Mat& map01, const cv::Size& size) {
  if (size.width <= 0 || size.height <= 0) throw UsageError("CAM raw map: size must be positive");
  cv::Mat out;
  map_at(map01, size).convertTo(out, CV_16U, 65535.0);  // saturate_cast rounds to nearest
  return out;
}

CamFiles write_cam_files(const std::string& out_dir, const std::string& stem, const cv::Mat& gray_original,
                         const cv::Mat& map01, const std::string& label_text, const OverlayOptions& opt) {
  if (stem.empty() || stem.find('/') != std::string::npos) throw UsageError("CAM files: bad file stem '" + stem + "'");
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec || !fs::is_directory(out_dir))
    throw FileError(out_dir, "cannot create the output folder" + (ec ? ": " + ec.message() : std::string()));
  CamFiles files;
  files.overlay = (fs::path(out_dir) / (stem + "_cam.png")).string();
  files.raw16 = (fs::path(out_dir) / (stem + "_cam16.png")).string();
  const cv::Mat overlay = cam_overlay(gray_original, map01, label_text, opt);
  write_png(files.overlay, overlay);
  write_png(files.raw16, cam_raw16(map01, overlay.size()));
  return files;
}

}  // namespace covscreen
