#pragma once
// DICOM through GDCM: uncompressed and JPEG 2000 transfer syntaxes, MONOCHROME1 inversion,
// rescale slope/intercept to Hounsfield units, then a window to gray uint8.
#include <cstdint>
#include <string>

#include <opencv2/core.hpp>

#include "covscreen/core/preprocess_spec.h"

namespace covscreen {

struct DicomImage {
  cv::Mat hu;                 // CV_32FC1, rows x cols, stored value * slope + intercept
  bool monochrome1 = false;   // photometric interpretation MONOCHROME1 (inverted display)
  double slope = 1.0, intercept = 0.0;
  bool has_voi = false;       // the file carries WindowCenter/WindowWidth
  double voi_center = 0.0, voi_width = 0.0;
  int bits_stored = 0;
  std::string transfer_syntax;  // UID
  std::string patient_id;       // (0010,0020), may be empty; never logged
  std::string modality;
};

// Guards against decompression bombs and nonsense headers (added; defaults match ReadOptions).
struct DicomLimits {
  int64_t max_pixels = 64ll << 20;     // rows * cols of one frame
  int64_t max_file_bytes = 1ll << 30;  // read_dicom only
};

// Throws FileError naming the path and the problem. Multi-frame files give their first frame.
DicomImage read_dicom(const std::string& path, const DicomLimits& limits = {});
DicomImage decode_dicom(const std::string& bytes, const std::string& name, const DicomLimits& limits = {});

// Maps HU to uint8 with the window (or the file's VOI when asked and present);
// MONOCHROME1 is inverted so that higher density is brighter, as in MONOCHROME2.
cv::Mat window_to_gray8(const DicomImage& img, const WindowSpec& window);

}  // namespace covscreen
