#pragma once
// DICOM through GDCM: uncompressed and JPEG 2000 transfer syntaxes, MONOCHROME1 inversion,
// rescale slope/intercept to Hounsfield units, then a window to gray uint8.
#include <cstdint>
#include <opencv2/core.hpp>
#include <string>

#include "covscreen/core/preprocess_spec.h"

namespace covscreen {

struct DicomImage {
  cv::Mat hu;                // CV_32FC1, rows x cols, stored value * slope + intercept
  bool monochrome1 = false;  // photometric interpretation MONOCHROME1 (inverted display)
  double slope = 1.0, intercept = 0.0;
  bool has_voi = false;  // the file carries WindowCenter/WindowWidth
  double voi_center = 0.0, voi_width = 0.0;
  int bits_stored = 0;
  std::string transfer_syntax;  // UID
  std::string patient_id;       // (0010,0020), may be empty; never logged
  std::string modality;
};

// Guards against decompression bombs and nonsense headers (defaults match ReadOptions).
// Before GDCM sees the bytes, every element, item and fragment length is checked against the
// bytes left in the file (a string or pixel data element claiming more than the file holds is
// refused as truncated), sequences may nest at most kMaxDicomNesting deep, Rows x Columns must
// not exceed max_pixels, all frames together at most kDicomAllFramesFactor x max_pixels, and
// native pixel data must hold Rows x Columns x frames samples.
inline constexpr int64_t kMaxDicomPixels = 64ll << 20;    // one frame, = kMaxImagePixels
inline constexpr int64_t kMaxDicomFileBytes = 1ll << 30;  // = kMaxImageFileBytes
inline constexpr int64_t kDicomAllFramesFactor = 16;      // all frames: 16 x max_pixels
inline constexpr int kMaxDicomNesting = 32;               // sequence depth

struct DicomLimits {
  int64_t max_pixels = kMaxDicomPixels;         // rows * cols of one frame
  int64_t max_file_bytes = kMaxDicomFileBytes;  // read_dicom only
};

// Throws FileError naming the path and the problem. Multi-frame files give their first frame.
DicomImage read_dicom(const std::string& path, const DicomLimits& limits = {});
DicomImage decode_dicom(const std::string& bytes, const std::string& name, const DicomLimits& limits = {});

// Maps HU to uint8 with the window (or the file's VOI when asked and present);
// MONOCHROME1 is inverted so that higher density is brighter, as in MONOCHROME2.
cv::Mat window_to_gray8(const DicomImage& img, const WindowSpec& window);

}  // namespace covscreen
