#pragma once
// Drawing class activation maps (OpenCV). The map comes from explain/ (any size, float in
// [0, 1]); the picture is the decoded input at its ORIGINAL resolution (io/image_reader.h).
//   cam_overlay: BGR uint8, same width x height as the picture: the map resized to the picture
//     (bilinear), coloured with a perceptual colormap (viridis: dark blue = 0, yellow = 1),
//     alpha-blended over the gray picture, a vertical colour bar with "1"/"0" ticks inside the
//     right edge, and the label text (e.g. "covid p=0.93") in the top-left corner on a dark box.
//     Text, bar and margins scale with the picture so they stay legible from ~100 px to 2000+ px.
//   cam_raw16: the map resized to the picture as CV_16UC1, 0..1 -> 0..65535 (rounded).
#include <opencv2/core.hpp>
#include <string>

namespace covscreen {

struct OverlayOptions {
  double alpha = 0.45;  // heatmap weight in the blend (0 = picture only, 1 = heatmap only)
  bool colour_bar = true;
};

// gray_original: CV_8UC1 (CV_8UC3 BGR is accepted too). map01: CV_32FC1 or CV_64FC1, any size;
// values are clipped to [0, 1], NaN counts as 0. Throws UsageError for empty or wrong-typed input.
cv::Mat cam_overlay(const cv::Mat& gray_original, const cv::Mat& map01, const std::string& label_text,
                    double alpha = 0.45);
cv::Mat cam_overlay(const cv::Mat& gray_original, const cv::Mat& map01, const std::string& label_text,
                    const OverlayOptions& opt);

// The map at `size` (bilinear), clipped to [0, 1], as CV_16UC1.
cv::Mat cam_raw16(const cv::Mat& map01, const cv::Size& size);

struct CamFiles {
  std::string overlay;  // <out_dir>/<stem>_cam.png
  std::string raw16;    // <out_dir>/<stem>_cam16.png
};

// Writes both PNGs (creating out_dir if needed; files are written to a temporary name and renamed).
// Throws FileError naming the file that could not be written.
CamFiles write_cam_files(const std::string& out_dir, const std::string& stem, const cv::Mat& gray_original,
                         const cv::Mat& map01, const std::string& label_text, const OverlayOptions& opt = {});

}  // namespace covscreen
